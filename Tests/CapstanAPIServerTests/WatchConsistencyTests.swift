import CapstanAPI
import CapstanAPIServer
import CapstanRPC
import CapstanStore
import CapstanWire
import Testing
import CapstanTestSupport

/// What one watcher selects, and the events the store's history implies for it.
struct Selection: Sendable {
    var namespace = ""
    var labels = ""
    var fields = ""

    var request: WatchRequest { Make.watch(namespace: namespace, labels: labels, fields: fields, bookmarks: true) }

    func matches(_ pod: Pod?) throws -> Bool {
        guard let pod else { return false }
        let labelSelector = try LabelSelector.parse(labels)
        let fieldSelector = try FieldSelector.parse(fields, schema: Pod.fieldSchema)
        return (namespace.isEmpty || pod.metadata.namespace == namespace)
            && labelSelector.matches(pod.metadata.labels) && fieldSelector.matches(pod.selectableFields)
    }
}

/// The pod changes in `(after, through]` as the store recorded them: (revision, key, pod before,
/// pod after), read from a store watch of everything.
func podHistory(_ store: any Store, after: Int64, through: Int64) async throws -> [(Int64, String, Pod?, Pod?)] {
    guard through > after else { return [] }
    let stream = try await store.watch(prefix: "/registry/", fromRevision: after)
    var state: [String: Pod] = [:]
    // The state at `after`, so the first changes know what they replace.
    for entry in try await store.list(prefix: "/registry/pods/", after: nil, limit: 0, revision: after).items {
        state[entry.key] = try Pod(serializedBytes: entry.value)
    }
    var history: [(Int64, String, Pod?, Pod?)] = []
    for try await event in stream {
        let key = event.entry.key
        if key.hasPrefix("/registry/pods/") {
            let previous = state[key]
            let current = event.kind == .put ? try Pod(serializedBytes: event.entry.value) : nil
            state[key] = current
            history.append((event.revision, key, previous, current))
        }
        if event.revision >= through { break }
    }
    return history
}

/// The events a watcher of `selection` must see for `history`.
func expectedEvents(_ history: [(Int64, String, Pod?, Pod?)], _ selection: Selection) throws -> [Seen] {
    var events: [Seen] = []
    for (revision, key, previous, current) in history {
        let name = String(key.dropFirst("/registry/pods/".count))
        let type: EventType
        switch (try selection.matches(previous), try selection.matches(current)) {
        case (false, true): type = .added
        case (true, true): type = .modified
        case (true, false): type = .deleted
        case (false, false): continue
        }
        events.append(Seen(type: type, name: name, revision: UInt64(revision)))
    }
    return events
}

/// Non-bookmark events of `watch` until one (or a bookmark) at or after `revision`.
func events(of watch: WatchReader<PodEvent>, through revision: Int64) async throws -> [Seen] {
    var seen: [Seen] = []
    while let event = try await watch.next() {
        if event.type != .bookmark { seen.append(event.seen) }
        if event.object.metadata.resourceVersion >= UInt64(revision) { return seen }
    }
    Issue.record("the watch ended before revision \(revision)")
    return seen
}


/// One writer's share of a mixed workload on pods named `w<writer>-<n>`.
func runWriter(_ api: APIClients, writer: Int, operations: Int) async throws {
    var random = SplitMix(state: UInt64(writer) &* 7919)
    var live: [(namespace: String, name: String)] = []
    var created = 0
    for _ in 0..<operations {
        let choice = live.isEmpty ? 0 : Int.random(in: 0..<10, using: &random)
        switch choice {
        case 0...2:
            let namespace = Bool.random(using: &random) ? "ns1" : "ns2"
            let labels = ["app": ["a", "b", "c"].randomElement(using: &random)!, "tier": ["x", "y"].randomElement(using: &random)!]
            let name = "w\(writer)-\(created)"
            created += 1
            _ = try await api.pods.create(Make.pod(name, namespace: namespace, labels: labels))
            live.append((namespace, name))
        case 3, 4:
            let target = live.randomElement(using: &random)!
            var pod = try await api.pods.get(Make.get(target.name, namespace: target.namespace))
            pod.metadata.labels["app"] = ["a", "b", "c"].randomElement(using: &random)!
            _ = try await api.pods.update(pod)
        case 5, 6:
            let target = live.randomElement(using: &random)!
            var pod = Make.pod(target.name, namespace: target.namespace)
            pod.status.phase = Bool.random(using: &random) ? .running : .pending
            _ = try await api.pods.updateStatus(pod)
        case 7:
            let target = live.randomElement(using: &random)!
            var binding = Binding()
            binding.namespace = target.namespace
            binding.podName = target.name
            binding.host = "m\(Int.random(in: 0..<2, using: &random))"
            do {
                _ = try await api.bindings.create(binding)
            } catch let error as RPCError where error.code == .failedPrecondition {}
        default:
            let index = Int.random(in: 0..<live.count, using: &random)
            let target = live.remove(at: index)
            _ = try await api.pods.delete(Make.delete(target.name, namespace: target.namespace))
        }
    }
}

@Suite("Watch consistency")
struct WatchConsistencyTests {
    static let selections = [
        Selection(),
        Selection(labels: "app=a"),
        Selection(fields: "spec.host="),
        Selection(namespace: "ns1"),
        Selection(labels: "app in (a,b),tier!=x", fields: "status.phase!=Running"),
        Selection(namespace: "ns2", fields: "status.phase=running,spec.host!="),
    ]

    @Test("under concurrent writers every watcher sees exactly the store's changes for its selector")
    func concurrentWriters() async throws {
        var storeOptions = SQLiteStoreOptions()
        storeOptions.retention = nil
        let options = testOptions { $0.bookmarkInterval = .milliseconds(20); $0.watcherQueueLimit = 100_000 }
        try await withAPIServer(options: options, storeOptions: storeOptions) { api, store in
            for index in 0..<2 { _ = try await api.minions.create(Make.minion("m\(index)")) }
            let start = try await store.currentRevision()
            var watchers: [WatchReader<PodEvent>] = []
            for selection in Self.selections {
                var request = selection.request
                request.resourceVersion = UInt64(start)
                watchers.append(WatchReader(try await api.pods.watch(request)))
            }
            // Half the writers first; a watcher joining mid-way resumes from a revision then.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<2 { group.addTask { try await runWriter(api, writer: writer, operations: 40) } }
                try await group.waitForAll()
            }
            let middle = try await store.currentRevision()
            var lateRequest = Selection(labels: "app=b").request
            lateRequest.resourceVersion = UInt64(middle)
            let late = WatchReader(try await api.pods.watch(lateRequest))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 2..<6 { group.addTask { try await runWriter(api, writer: writer, operations: 40) } }
                try await group.waitForAll()
            }
            let end = try await store.currentRevision()
            let history = try await podHistory(store, after: start, through: end)
            #expect(history.count > 100)
            for (selection, watcher) in zip(Self.selections, watchers) {
                let expected = try expectedEvents(history, selection)
                let seen = try await events(of: watcher, through: end)
                #expect(seen == expected, "selection \(selection)")
            }
            let lateExpected = try expectedEvents(history.filter { $0.0 > middle }, Selection(labels: "app=b"))
            let lateSeen = try await events(of: late, through: end)
            #expect(lateSeen == lateExpected)
        }
    }

    @Test("watches resume across an API server restart; the restarted server serves what was stored")
    func resumeAfterRestart() async throws {
        var storeOptions = SQLiteStoreOptions()
        storeOptions.retention = nil
        let options = testOptions { $0.bookmarkInterval = .milliseconds(20) }
        try await withTemporaryDirectory { directory in
            let checkpoint = try await withAPIServer(directory: directory, options: options, storeOptions: storeOptions) { api, _ in
                let watch = WatchReader(try await api.pods.watch(Make.watch(initial: true)))
                var last: UInt64 = 0
                for index in 0..<5 { _ = try await api.pods.create(Make.pod("p\(index)", labels: ["app": "a"])) }
                // What a client had seen when the server went away.
                for event in try await watch.next(4) { last = event.object.metadata.resourceVersion }
                _ = try await api.pods.delete(Make.delete("p0"))
                return last
            }
            try await withAPIServer(directory: directory, options: options, storeOptions: storeOptions) { api, store in
                #expect(try await api.pods.list(Make.list()).items.map(\.metadata.name) == ["p1", "p2", "p3", "p4"])
                var pod = try await api.pods.get(Make.get("p1"))
                pod.metadata.labels = ["app": "b"]
                _ = try await api.pods.update(pod)
                _ = try await api.pods.create(Make.pod("p9", labels: ["app": "a"]))
                let end = try await store.currentRevision()
                let history = try await podHistory(store, after: Int64(checkpoint), through: end)
                for selection in [Selection(), Selection(labels: "app=a")] {
                    var request = selection.request
                    request.resourceVersion = checkpoint
                    let watch = WatchReader(try await api.pods.watch(request))
                    #expect(try await events(of: watch, through: end) == (try expectedEvents(history, selection)))
                }
            }
        }
    }
}
