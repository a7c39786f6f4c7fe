import Synchronization
import CapstanAPI
import CapstanClient
import Testing

@Suite("InformerCache: keys, indexes, replacing with a listing")
struct InformerCacheTests {
    static func pod(_ name: String, _ namespace: String, version: UInt64, labels: [String: String] = [:], host: String = "") -> Pod {
        var pod = Make.pod(name, namespace: namespace, labels: labels, host: host)
        pod.metadata.resourceVersion = version
        return pod
    }

    @Test("put, remove and lookups by key, namespace, label and a custom index stay in step")
    func indexes() {
        var cache = InformerCache<Pod>()
        cache.addIndex("host") { [$0.spec.host] }
        cache.put(Self.pod("a", "ns1", version: 1, labels: ["app": "web"], host: "m1"))
        cache.put(Self.pod("b", "ns1", version: 2, labels: ["app": "db"], host: "m1"))
        cache.put(Self.pod("a", "ns2", version: 3, labels: ["app": "web"]))
        #expect(cache.count == 3)
        #expect(cache.byIndex(InformerCache<Pod>.namespaceIndex, "ns1").map(\.metadata.name) == ["a", "b"])
        #expect(cache.byIndex(InformerCache<Pod>.labelIndex, "app=web").map(\.objectKey.description) == ["ns1/a", "ns2/a"])
        #expect(cache.byIndex("host", "m1").map(\.metadata.name) == ["a", "b"])
        #expect(cache.indexValues("host") == ["", "m1"])

        // Moving an object between index values removes it from the old one.
        let replaced = cache.put(Self.pod("b", "ns1", version: 4, labels: ["app": "web"], host: "m2"))
        #expect(replaced?.metadata.resourceVersion == 2)
        #expect(cache.byIndex("host", "m1").map(\.metadata.name) == ["a"])
        #expect(cache.byIndex("host", "m2").map(\.metadata.name) == ["b"])
        #expect(cache.byIndex(InformerCache<Pod>.labelIndex, "app=db").isEmpty)

        #expect(cache.remove(ObjectKey(namespace: "ns1", name: "a"))?.metadata.resourceVersion == 1)
        #expect(cache.remove(ObjectKey(namespace: "ns1", name: "a")) == nil)
        #expect(cache.byIndex("host", "m1").isEmpty)
        #expect(cache.indexValues("host") == ["", "m2"])
        #expect(cache.byIndex("no such index", "x").isEmpty)

        // An index added later covers what is already held.
        cache.addIndex("app") { [$0.metadata.labels["app"] ?? ""] }
        #expect(cache.byIndex("app", "web").map(\.objectKey.description) == ["ns1/b", "ns2/a"])
    }

    @Test("replacing with a listing reports adds, updates (changed versions only) and deletes, by key")
    func replace() {
        var cache = InformerCache<Pod>()
        _ = cache.replace(with: [
            Self.pod("keep", "ns", version: 1), Self.pod("change", "ns", version: 2), Self.pod("gone", "ns", version: 3),
        ])
        let changes = cache.replace(with: [
            Self.pod("new", "ns", version: 9), Self.pod("keep", "ns", version: 1), Self.pod("change", "ns", version: 8),
        ])
        let described = changes.map { change -> String in
            switch change {
            case .added(let pod): "add \(pod.metadata.name)@\(pod.metadata.resourceVersion)"
            case .updated(let old, let new): "update \(old.metadata.name)@\(old.metadata.resourceVersion)->\(new.metadata.resourceVersion)"
            case .deleted(let pod): "delete \(pod.metadata.name)@\(pod.metadata.resourceVersion)"
            }
        }
        #expect(described == ["update change@2->8", "delete gone@3", "add new@9"])
        #expect(cache.list().map(\.metadata.name) == ["change", "keep", "new"])
        #expect(cache.byIndex(InformerCache<Pod>.namespaceIndex, "ns").count == 3)
    }

    @Test("an index function that changes its answer leaves a stale entry, not a crash")
    func unstableIndexFunction() {
        let calls = Mutex(0)
        var cache = InformerCache<Pod>()
        cache.addIndex("flaky") { _ in
            calls.withLock { count in
                count += 1
                return ["v\(count)"]
            }
        }
        cache.put(Self.pod("a", "ns", version: 1))
        cache.remove(ObjectKey(namespace: "ns", name: "a"))
        // Indexed under v1, taken out under v2: v1 still names the key, whose object is gone.
        #expect(cache.byIndex("flaky", "v1").isEmpty)
        #expect(cache.indexValues("flaky") == ["v1"])
        #expect(cache.list().isEmpty)
    }
}
