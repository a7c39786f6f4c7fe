@testable import CapstanAPIServer
import CapstanAPI
import CapstanStore
import CapstanWire
import Testing

/// The watch cache takes the selector fields of this server's own writes from the registry instead
/// of decoding the stored bytes: only for a put of exactly the noted bytes.
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
        cache.reset(objects: [], revision: 1)
        return cache
    }

    func put(_ pod: Pod, revision: Int64) -> WatchEvent {
        WatchEvent(kind: .put, entry: KeyValue(key: Self.key, value: pod.serializedBytes(), createRevision: 2, modRevision: revision))
    }

    /// Notes a write of `pod`, with `labels` as its selector labels when given (to tell a noted
    /// form from a decoded one).
    func expect(_ cache: WatchCache, _ pod: Pod, labels: [String: String]? = nil) {
        cache.expectWrite(
            key: Self.key, value: pod.serializedBytes(),
            selectorFields: SelectorFields(labels: labels ?? pod.metadata.labels, fields: pod.selectableFieldValues))
    }

    @Test("a noted write is cached as decoding its stored bytes would cache it")
    func sameAsDecoded() throws {
        let cache = cache()
        let stored = pod(labels: ["app": "web", "tier": "front"], host: "m1")
        expect(cache, stored)
        let event = put(stored, revision: 2)
        cache.apply(event)
        let cached = try #require(try cache.get(Self.key))
        let decoded = cache.cachedObject(event.entry)
        #expect(cached.bytes == decoded.bytes && cached.selectorFields == decoded.selectorFields)
        #expect(cached.namespace == "prod" && cached.name == "web" && cached.revision == 2)
        let matching = try ObjectFilter.parse(namespace: "", labelSelector: "tier=front", fieldSelector: "spec.host=m1", schema: Pod.fieldSchema)
        #expect(matching.matches(cached))
        // The noted fields are what the cache keeps (here told apart by their labels): no decode.
        expect(cache, stored, labels: ["noted": "yes"])
        cache.apply(put(stored, revision: 3))
        #expect(try cache.get(Self.key)?.selectorFields.labels == ["noted": "yes"])
    }

    @Test("a note for other bytes, a consumed note and a forgotten note are not used")
    func staleNotes() throws {
        let cache = cache()
        // Noted one object, but the store's event carries another: its bytes are decoded.
        expect(cache, pod(labels: ["app": "noted"], host: ""), labels: ["app": "wrong"])
        cache.apply(put(pod(labels: ["app": "right"], host: ""), revision: 2))
        #expect(try cache.get(Self.key)?.selectorFields.labels == ["app": "right"])
        // That event consumed the note: the same bytes arriving later are decoded too.
        cache.apply(put(pod(labels: ["app": "noted"], host: ""), revision: 3))
        #expect(try cache.get(Self.key)?.selectorFields.labels == ["app": "noted"])
        // A failed write's note is forgotten.
        let failed = pod(labels: ["app": "failed"], host: "")
        expect(cache, failed, labels: ["app": "wrong"])
        cache.forgetWrite(key: Self.key, value: failed.serializedBytes())
        cache.apply(put(failed, revision: 4))
        #expect(try cache.get(Self.key)?.selectorFields.labels == ["app": "failed"])
        // A delete consumes a note too.
        expect(cache, failed, labels: ["app": "wrong"])
        cache.apply(WatchEvent(kind: .delete, entry: KeyValue(key: Self.key, value: [], createRevision: 2, modRevision: 5)))
        #expect(try cache.get(Self.key) == nil)
        cache.apply(put(failed, revision: 6))
        #expect(try cache.get(Self.key)?.selectorFields.labels == ["app": "failed"])
    }

    @Test("notes are bounded in bytes: past 64 MiB of noted writes, more are decoded when they arrive")
    func boundedInBytes() throws {
        let cache = cache()
        var big = pod(labels: ["app": "big"], host: "")
        big.metadata.annotations = ["blob": String(repeating: "x", count: 1 << 20)]
        let value = big.serializedBytes()
        let count = WatchCache.maxExpectedBytes / value.count + 2
        for index in 0..<count {
            cache.expectWrite(
                key: "/registry/pods/prod/p\(index)", value: value,
                selectorFields: SelectorFields(labels: ["noted": "yes"], fields: big.selectableFieldValues))
        }
        for (index, revision) in [(0, Int64(2)), (count - 1, 3)] {
            let key = "/registry/pods/prod/p\(index)"
            cache.apply(WatchEvent(kind: .put, entry: KeyValue(key: key, value: value, createRevision: revision, modRevision: revision)))
        }
        #expect(try cache.get("/registry/pods/prod/p0")?.selectorFields.labels == ["noted": "yes"])
        #expect(try cache.get("/registry/pods/prod/p\(count - 1)")?.selectorFields.labels == ["app": "big"])
    }
}
