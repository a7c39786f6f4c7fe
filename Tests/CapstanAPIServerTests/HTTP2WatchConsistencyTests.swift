import CapstanAPI
import CapstanAPIServer
import CapstanAPIServerHost
import CapstanRPC
import CapstanStore
import CapstanWire
import Synchronization
import CapstanTestSupport
import Testing

/// Watch correctness on both store backends, through a real API server host over HTTP/2:
/// concurrent writers and watchers with selectors, and an API server restart in the middle of
/// the writes, after which every watcher resumes from the last resource version it received.
/// Each watcher's events must be exactly what the store's own history implies for its selector.
@Suite("Watch consistency over HTTP/2", .serialized)
struct HTTP2WatchConsistencyTests {
    static let selections = WatchConsistencyTests.selections + [Selection(labels: "app=b")]

    static func options() -> APIServerOptions {
        testOptions { $0.bookmarkInterval = .milliseconds(50); $0.watcherQueueLimit = 100_000 }
    }

    @Test("under concurrent writers every watcher sees exactly the store's changes for its selector",
          .timeLimit(.minutes(5)), arguments: Backend.allCases)
    func concurrentWriters(backend: Backend) async throws {
        try await BackendFixture.with(backend) { fixture in
            let host = try await fixture.startHost(options: Self.options())
            let clients = try HTTP2Clients(address: host.address)
            var watchers: [WatchReader<PodEvent>] = []
            do {
                let api = clients.api
                for index in 0..<2 { _ = try await api.minions.create(Make.minion("m\(index)")) }
                let start = try await fixture.store.currentRevision()
                for selection in Self.selections {
                    var request = selection.request
                    request.resourceVersion = UInt64(start)
                    watchers.append(WatchReader(try await api.pods.watch(request)))
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for writer in 0..<2 { group.addTask { try await runWriter(api, writer: writer, operations: 30) } }
                    try await group.waitForAll()
                }
                // A watcher joining half-way, from the revision then.
                let middle = try await fixture.store.currentRevision()
                var lateRequest = Selection(labels: "app=b", fields: "spec.host=").request
                lateRequest.resourceVersion = UInt64(middle)
                let late = WatchReader(try await api.pods.watch(lateRequest))
                watchers.append(late)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for writer in 2..<5 { group.addTask { try await runWriter(api, writer: writer, operations: 30) } }
                    try await group.waitForAll()
                }
                let end = try await fixture.store.currentRevision()
                let history = try await bounded("the store's history") {
                    try await podHistory(try fixture.store, after: start, through: end)
                }
                #expect(history.count > 80)
                for (selection, watcher) in zip(Self.selections, watchers) {
                    let expected = try expectedEvents(history, selection)
                    #expect(try await events(of: watcher, through: end) == expected, "\(backend): selection \(selection)")
                }
                let lateExpected = try expectedEvents(
                    history.filter { $0.0 > middle }, Selection(labels: "app=b", fields: "spec.host="))
                #expect(try await events(of: late, through: end) == lateExpected, "\(backend): late watcher")
            } catch {
                Issue.record(error)
            }
            for watcher in watchers { watcher.cancel() }
            await clients.close()
            await host.stop()
        }
    }

    @Test("watchers resume across an API server restart in the middle of the writes without loss or duplicates",
          .timeLimit(.minutes(5)), arguments: Backend.allCases)
    func restartMidChurn(backend: Backend) async throws {
        try await BackendFixture.with(backend) { fixture in
            let first = try await fixture.startHost(options: Self.options())
            let firstClients = try HTTP2Clients(address: first.address)
            let current = CurrentClients(firstClients.api)
            let progress = Counter()
            for index in 0..<2 { _ = try await firstClients.api.minions.create(Make.minion("m\(index)")) }
            let start = try await fixture.store.currentRevision()
            var before: [WatchReader<PodEvent>] = []
            for selection in Self.selections {
                var request = selection.request
                request.resourceVersion = UInt64(start)
                before.append(WatchReader(try await firstClients.api.pods.watch(request)))
            }
            let writers = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for writer in 0..<4 {
                        group.addTask {
                            try await runRestartTolerantWriter(current, writer: writer, operations: 40, progress: progress)
                        }
                    }
                    try await group.waitForAll()
                }
            }
            var second: APIServerHost?
            var secondClients: HTTP2Clients?
            var after: [WatchReader<PodEvent>] = []
            do {
                // Stop the server while the writers are busy.
                try await waitUntil("a third of the writes", seconds: 120) { progress.value >= 50 }
                current.serverGoesAway()
                // Open watches must not hold up the graceful shutdown (the suite's time limit bounds it).
                await first.stop()
                // What each watcher had received when its stream ended, and where to resume.
                var seenBefore: [[Seen]] = []
                var resumeFrom: [UInt64] = []
                for watcher in before {
                    let (seen, last, end) = try await drain(watcher)
                    #expect((end as? RPCError)?.code == .unavailable, "the watch ended with \(String(describing: end))")
                    seenBefore.append(seen)
                    resumeFrom.append(max(last, UInt64(start)))
                }
                await firstClients.close()
                let restarted = try await fixture.startHost(options: Self.options())
                second = restarted
                let clients = try HTTP2Clients(address: restarted.address)
                secondClients = clients
                for (selection, revision) in zip(Self.selections, resumeFrom) {
                    var request = selection.request
                    request.resourceVersion = revision
                    after.append(WatchReader(try await clients.api.pods.watch(request)))
                }
                current.serverIsBack(clients.api)
                try await bounded("the writers", seconds: 240) { try await writers.value }
                let end = try await fixture.store.currentRevision()
                let history = try await bounded("the store's history") {
                    try await podHistory(try fixture.store, after: start, through: end)
                }
                #expect(history.count > 80)
                // The restart really split the streams: events before it, and writes after every resume point.
                #expect(seenBefore.map(\.count).reduce(0, +) > 20)
                #expect(history.contains { $0.0 > Int64(resumeFrom.max() ?? 0) }, "no write after the restart")
                for (index, selection) in Self.selections.enumerated() {
                    let expected = try expectedEvents(history, selection)
                    let seen = seenBefore[index] + (try await events(of: after[index], through: end))
                    #expect(seen == expected, "\(backend): selection \(selection), resumed from \(resumeFrom[index])")
                }
            } catch {
                Issue.record(error)
                writers.cancel()
                current.serverIsBack(nil)
            }
            _ = try? await writers.value
            for watcher in before + after { watcher.cancel() }
            await firstClients.close()
            await secondClients?.close()
            await first.stop()
            await second?.stop()
        }
    }
}

/// Every event of `watch` until its stream ends (normally or with an error, as when the server
/// goes away): the non-bookmark events, the last resource version received (bookmarks
/// included), where a client resumes, and the error the stream ended with.
func drain<Event: WireMessage & WatchEventMessage>(_ watch: WatchReader<Event>) async throws -> ([Seen], UInt64, (any Error)?) {
    var seen: [Seen] = []
    var last: UInt64 = 0
    while true {
        let event: Event?
        do {
            event = try await watch.next()
        } catch is TestTimeout {
            throw TestTimeout(what: "the watch to end after its server stopped")
        } catch {
            return (seen, last, error)
        }
        guard let event else { return (seen, last, nil) }
        if event.eventType != .bookmark { seen.append(event.seenEvent) }
        last = max(last, event.seenEvent.revision)
    }
}

/// What `drain` needs of a kind's watch event.
protocol WatchEventMessage {
    var eventType: EventType { get }
    var seenEvent: Seen { get }
}

extension PodEvent: WatchEventMessage {
    var eventType: EventType { type }
    var seenEvent: Seen { seen }
}

extension MinionEvent: WatchEventMessage {
    var eventType: EventType { type }
    var seenEvent: Seen { Seen(type: type, name: object.metadata.name, revision: object.metadata.resourceVersion) }
}

/// The clients writers use, swapped when the API server restarts; while it is away, writers wait.
final class CurrentClients: Sendable {
    private struct State {
        var clients: APIClients?
        var waiters: [CheckedContinuation<APIClients?, Never>] = []
    }

    private let state: Mutex<State>

    init(_ clients: APIClients) { state = Mutex(State(clients: clients)) }

    /// The clients of the running server; waits while there is none; nil once given up.
    func get() async -> APIClients? {
        await withCheckedContinuation { continuation in
            let clients: APIClients?? = state.withLock { state in
                if let clients = state.clients { return .some(clients) }
                state.waiters.append(continuation)
                return .none
            }
            if let clients { continuation.resume(returning: clients) }
        }
    }

    func serverGoesAway() { state.withLock { $0.clients = nil } }

    /// The new server's clients, or nil to release waiting writers (who then stop).
    func serverIsBack(_ clients: APIClients?) {
        let waiters = state.withLock { state in
            state.clients = clients
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: clients) }
    }
}

/// Like `runWriter`, for writes that may meet an API server going away: a call that fails with
/// UNAVAILABLE or CANCELLED waits for the restarted server and goes on with the next operation.
/// Such a write may or may not have been applied, so the writer's view of its pods can be wrong
/// afterwards; what that causes (NOT_FOUND, ALREADY_EXISTS, ABORTED) is tolerated. The watch
/// check compares against the store's history, which is what was applied.
func runRestartTolerantWriter(_ current: CurrentClients, writer: Int, operations: Int, progress: Counter) async throws {
    var random = SplitMix(state: UInt64(writer) &* 104_729)
    var live: [(namespace: String, name: String)] = []
    var created = 0
    for _ in 0..<operations {
        guard let api = await current.get() else { return }
        let choice = live.isEmpty ? 0 : Int.random(in: 0..<10, using: &random)
        do {
            switch choice {
            case 0...2:
                let namespace = Bool.random(using: &random) ? "ns1" : "ns2"
                let labels = ["app": ["a", "b", "c"].randomElement(using: &random)!, "tier": ["x", "y"].randomElement(using: &random)!]
                let name = "w\(writer)-\(created)"
                created += 1
                live.append((namespace, name))
                _ = try await api.pods.create(Make.pod(name, namespace: namespace, labels: labels))
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
                _ = try await api.bindings.create(binding)
            default:
                let target = live.remove(at: Int.random(in: 0..<live.count, using: &random))
                _ = try await api.pods.delete(Make.delete(target.name, namespace: target.namespace))
            }
        } catch let error as RPCError where [.unavailable, .cancelled].contains(error.code) {
            // The server went away; the next operation waits for the restarted one.
        } catch let error as RPCError where [.notFound, .alreadyExists, .aborted, .failedPrecondition].contains(error.code) {
            // A consequence of an earlier write with an unknown outcome, or a pod already bound.
        }
        progress.increment()
    }
}

/// A count shared between tasks.
final class Counter: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    func increment() { count.withLock { $0 += 1 } }
}

/// Polls `condition` every 20 ms until it holds, failing with `TestTimeout` after `seconds`.
func waitUntil(_ what: String, seconds: Int, _ condition: @Sendable () -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while !condition() {
        guard ContinuousClock.now < deadline else { throw TestTimeout(what: what) }
        try await Task.sleep(for: .milliseconds(20))
    }
}
