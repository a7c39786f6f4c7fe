@testable import CapstanAPIServer
import CapstanAPI
import CapstanStore
import Testing

/// The watch cache takes the cached form of this server's own writes from the registry instead of
/// decoding the stored bytes: it must be exactly what decoding would give.
@Suite("Watch cache: expected writes")
struct ExpectedWriteTests {
    static let key = "/registry/pods/prod/web"

    func pod(labels: [String: String], host: String) -> Pod {
        var pod = Pod()
        pod.metadata.name = "web"
        pod.metadata.namespace = "prod"
        pod.metadata.labels = labels
        pod.spec.host = host
        pod.status.phase = .running
        return pod
    }

    func cache() -> WatchCache {
        let cache = WatchCache(codec: PodStrategy.codec, limits: WatchCache.Limits(), progress: CacheProgress())
        cache.reset(listing: [], revision: 1)
        return cache
    }

    func put(_ pod: Pod, revision: Int64) -> WatchEvent {
        WatchEvent(kind: .put, entry: KeyValue(key: Self.key, value: pod.serializedBytes(), createRevision: 2, modRevision: revision))
    }

    func expect(_ cache: WatchCache, _ pod: Pod, revision: Int64, labels: [String: String]? = nil) throws {
        let bytes = try ProtoBytes.object(pod.serializedBytes(), withResourceVersion: revision)
        cache.expectWrite(
            key: Self.key, revision: revision, bytes: bytes,
            selectorFields: SelectorFields(labels: labels ?? pod.metadata.labels, fields: pod.selectableFields))
    }

    @Test("a noted write is cached as decoding its stored bytes would cache it")
    func sameAsDecoded() throws {
        let cache = cache()
        let stored = pod(labels: ["app": "web", "tier": "front"], host: "m1")
        try expect(cache, stored, revision: 2)
        let event = put(stored, revision: 2)
        cache.apply(event)
        let cached = try #require(try cache.get(Self.key))
        let decoded = cache.cachedObject(event.entry)
        #expect(cached.bytes == decoded.bytes && cached.selectorFields == decoded.selectorFields)
        #expect(cached.namespace == "prod" && cached.name == "web" && cached.revision == 2)
        let matching = try ObjectFilter.parse(namespace: "", labelSelector: "tier=front", fieldSelector: "spec.host=m1", schema: Pod.fieldSchema)
        #expect(matching.matches(cached))
        // The noted form is what the cache keeps (here told apart by its labels): no decode.
        try expect(cache, stored, revision: 3, labels: ["noted": "yes"])
        cache.apply(put(stored, revision: 3))
        #expect(try cache.get(Self.key)?.selectorFields.labels == ["noted": "yes"])
    }

    @Test("a note for another revision, or one arriving after its event, is not used")
    func staleNotes() throws {
        let cache = cache()
        // Noted at revision 3, but the store's event is revision 2: the bytes are decoded instead.
        try expect(cache, pod(labels: ["app": "wrong"], host: ""), revision: 3, labels: ["app": "wrong"])
        let stored = pod(labels: ["app": "right"], host: "")
        cache.apply(put(stored, revision: 2))
        #expect(try cache.get(Self.key)?.selectorFields.labels == ["app": "right"])
        // The note was consumed: the event at revision 3 decodes its own bytes too.
        let later = pod(labels: ["app": "later"], host: "")
        cache.apply(put(later, revision: 3))
        #expect(try cache.get(Self.key)?.selectorFields.labels == ["app": "later"])
        // A note for a revision already applied is never used for a later write.
        try expect(cache, pod(labels: ["app": "late-note"], host: ""), revision: 3, labels: ["app": "late-note"])
        let fourth = pod(labels: ["app": "fourth"], host: "")
        cache.apply(put(fourth, revision: 4))
        #expect(try cache.get(Self.key)?.selectorFields.labels == ["app": "fourth"])
    }
}
