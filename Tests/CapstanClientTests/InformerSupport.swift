import CapstanAPI
import CapstanClient
import CapstanRPC
import Synchronization
import Testing
import CapstanTestSupport

/// What an informer's handlers were told, replayed into a map: it must always equal the cache.
/// Records every call that does not fit what came before (an add of a key already present, an
/// update or delete whose old object is not the one last delivered).
final class HandlerMirror: Sendable {
    struct State {
        var objects: [ObjectKey: Pod] = [:]
        var adds = 0
        var updates = 0
        var deletes = 0
        var violations: [String] = []
    }

    let state = Mutex(State())

    var handler: InformerHandler<Pod> {
        InformerHandler(
            onAdd: { pod in
                self.state.withLock { state in
                    if state.objects[pod.objectKey] != nil { state.violations.append("add of present \(pod.objectKey)") }
                    state.objects[pod.objectKey] = pod
                    state.adds += 1
                }
            },
            onUpdate: { old, new in
                self.state.withLock { state in
                    if state.objects[old.objectKey] != old { state.violations.append("update from unseen \(old.objectKey)") }
                    if old.objectKey != new.objectKey { state.violations.append("update changes key \(old.objectKey)") }
                    state.objects[new.objectKey] = new
                    state.updates += 1
                }
            },
            onDelete: { pod in
                self.state.withLock { state in
                    if state.objects[pod.objectKey] != pod { state.violations.append("delete of unseen \(pod.objectKey)") }
                    state.objects[pod.objectKey] = nil
                    state.deletes += 1
                }
            })
    }

    var objects: [Pod] { state.withLock { $0.objects.values.sorted { $0.objectKey < $1.objectKey } } }
    var violations: [String] { state.withLock { $0.violations } }
    var counts: (adds: Int, updates: Int, deletes: Int) { state.withLock { ($0.adds, $0.updates, $0.deletes) } }
}

/// Waits until `informer` saw at least the revision of a fresh List, then checks that its cache
/// is exactly that List (same objects, same resource versions), that the handlers' view equals
/// the cache, and that the `host` index agrees with the List.
func expectConverged(
    _ informer: Informer<Pod>, _ mirror: HandlerMirror, _ client: CapstanClient,
    sourceLocation: SourceLocation = #_sourceLocation
) async throws {
    let fresh = try await client.pods.list()
    // The informer's revision moves before its handlers hear of the change: wait for both.
    try await eventually("the informer and its handlers to reach revision \(fresh.resourceVersion)") {
        informer.resourceVersion >= fresh.resourceVersion && summary(mirror.objects) == summary(informer.list())
    }
    let cached = informer.list()
    #expect(summary(cached) == summary(fresh.items), sourceLocation: sourceLocation)
    let sameAsList = cached == fresh.items
    #expect(sameAsList, "the cached objects differ from the List's", sourceLocation: sourceLocation)
    let handled = mirror.objects
    #expect(summary(handled) == summary(cached), "what the handlers saw", sourceLocation: sourceLocation)
    let sameAsHandled = handled == cached
    #expect(sameAsHandled, "the handlers' objects differ from the cache's", sourceLocation: sourceLocation)
    #expect(mirror.violations == [], sourceLocation: sourceLocation)
    let counts = mirror.counts
    #expect(counts.adds - counts.deletes == cached.count, sourceLocation: sourceLocation)
    for host in ["", "m0", "m1"] {
        let expected = fresh.items.filter { $0.spec.host == host }
        #expect(summary(informer.byIndex("host", host)) == summary(expected), "host '\(host)'", sourceLocation: sourceLocation)
    }
    for namespace in ["ns1", "ns2"] {
        let expected = fresh.items.filter { $0.metadata.namespace == namespace }
        #expect(summary(informer.list(namespace: namespace)) == summary(expected), sourceLocation: sourceLocation)
    }
    let labelled = fresh.items.filter { $0.metadata.labels["app"] == "a" }
    #expect(summary(informer.byLabel("app", "a")) == summary(labelled), sourceLocation: sourceLocation)
}

/// `namespace/name@resourceVersion` of each pod, for readable comparisons.
func summary(_ pods: [Pod]) -> [String] {
    pods.map { "\($0.objectKey)@\($0.metadata.resourceVersion)" }
}

/// One writer's share of a mixed workload on pods `w<writer>-<n>`: creates (some placed on a
/// minion), label updates, status updates, bindings and deletes. With `tolerant`, failed calls
/// (a server restarting) are counted and skipped.
@discardableResult
func runWriter(_ client: CapstanClient, writer: Int, operations: Int, tolerant: Bool = false) async throws -> Int {
    var random = SplitMix(state: UInt64(writer) &* 7919 &+ 1)
    var live: [(namespace: String, name: String)] = []
    var created = 0
    var failures = 0
    for _ in 0..<operations {
        let choice = live.isEmpty ? 0 : Int.random(in: 0..<10, using: &random)
        do {
            switch choice {
            case 0...2:
                let namespace = Bool.random(using: &random) ? "ns1" : "ns2"
                let labels = ["app": ["a", "b", "c"].randomElement(using: &random)!]
                let host = ["", "", "m0", "m1"].randomElement(using: &random)!
                let name = "w\(writer)-\(created)"
                created += 1
                live.append((namespace, name))
                _ = try await client.pods.create(Make.pod(name, namespace: namespace, labels: labels, host: host))
            case 3, 4:
                let target = live.randomElement(using: &random)!
                var pod = try await client.pods.get(namespace: target.namespace, name: target.name)
                pod.metadata.labels["app"] = ["a", "b", "c"].randomElement(using: &random)!
                _ = try await client.pods.update(pod)
            case 5:
                let target = live.randomElement(using: &random)!
                var pod = try await client.pods.get(namespace: target.namespace, name: target.name)
                pod.status.phase = pod.status.phase == .running ? .pending : .running
                _ = try await client.pods.updateStatus(pod)
            case 6, 7:
                let target = live.randomElement(using: &random)!
                do {
                    _ = try await client.pods.bind(namespace: target.namespace, name: target.name, host: "m\(writer % 2)")
                } catch let error as RPCError where error.code == .failedPrecondition {}
            default:
                let target = live.remove(at: Int.random(in: 0..<live.count, using: &random))
                _ = try await client.pods.delete(namespace: target.namespace, name: target.name)
            }
        } catch let error as RPCError where tolerant && error.code != .cancelled {
            failures += 1
        }
    }
    return failures
}

/// Creates the minions the workload binds to.
func createMinions(_ client: CapstanClient) async throws {
    for index in 0..<2 { _ = try await client.minions.create(Make.minion("m\(index)")) }
}

/// A pod informer with the `host` index and a mirror of its handlers, started.
func startedPodInformer(_ client: CapstanClient, options: InformerOptions = InformerOptions()) -> (Informer<Pod>, HandlerMirror) {
    let informer = client.pods.informer(options: options)
    informer.addIndex("host") { [$0.spec.host] }
    let mirror = HandlerMirror()
    informer.addHandler(mirror.handler)
    informer.start()
    return (informer, mirror)
}
