import CapstanAPI
import CapstanAPIServer
import CapstanAPIServerHost
import CapstanClient
import CapstanRPC
import Synchronization
import CapstanTestSupport
import Testing

@Suite("Informers against a real API server", .timeLimit(.minutes(5)))
struct InformerTests {
    @Test("the first sync pages through the listing; cache, indexes and handlers equal a List")
    func initialSync() async throws {
        try await withServerAndClient { _, client in
            try await createMinions(client)
            for index in 0..<23 {
                let pod = Make.pod(
                    "p\(index)", namespace: index % 2 == 0 ? "ns1" : "ns2", labels: ["app": ["a", "b", "c"][index % 3]],
                    host: index % 4 == 0 ? "m\(index % 8 / 4)" : "")
                _ = try await client.pods.create(pod)
            }
            let (informer, mirror) = startedPodInformer(client, options: InformerOptions(pageSize: 5))
            try await bounded("the first sync") { try await informer.waitUntilSynced() }
            #expect(informer.hasSynced)
            #expect(informer.count == 23)
            #expect(mirror.counts == (23, 0, 0))
            try await expectConverged(informer, mirror, client)
            #expect(informer.get(namespace: "ns1", name: "p0")?.metadata.name == "p0")
            #expect(informer.get(namespace: "ns2", name: "p0") == nil)
            #expect(informer.list(matching: try LabelSelector.parse("app in (a,b)")).count == 16)
            #expect(informer.statistics.lists == 1)
            await informer.stop()
        }
    }

    @Test("under concurrent writers the cache ends equal to a fresh List; handlers saw every change once")
    func churn() async throws {
        try await withServerAndClient { _, client in
            try await createMinions(client)
            // Some objects before the informer starts, the rest while it watches.
            try await runWriter(client, writer: 0, operations: 30)
            let (informer, mirror) = startedPodInformer(client)
            try await bounded("the first sync") { try await informer.waitUntilSynced() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 1...4 { group.addTask { try await runWriter(client, writer: writer, operations: 50) } }
                try await group.waitForAll()
            }
            try await expectConverged(informer, mirror, client)
            let counts = mirror.counts
            #expect(counts.updates > 0 && counts.deletes > 0)
            let statistics = informer.statistics
            #expect(statistics.lists == 1)
            #expect(statistics.events >= counts.adds + counts.updates + counts.deletes - 30)
            await informer.stop()
        }
    }

    @Test("across an API server restart during churn the watch resumes (no relist) and the cache converges")
    func serverRestart() async throws {
        try await withTemporaryDirectory { directory in
            let port = try restartablePort()
            var server = try await startServer(directory, port: port)
            let client = try CapstanClient(servers: [server.address], options: clientOptions())
            try await createMinions(client)
            try await runWriter(client, writer: 0, operations: 20)
            let (informer, mirror) = startedPodInformer(client)
            try await bounded("the first sync") { try await informer.waitUntilSynced() }
            // Writers keep going while the server goes away and comes back on the same port;
            // their calls fail over the gap (tolerated and skipped once retries run out).
            let writers = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for writer in 1...3 {
                        group.addTask { try await runWriter(client, writer: writer, operations: 60, tolerant: true) }
                    }
                    try await group.waitForAll()
                }
            }
            try await eventually("some churn before the restart") { informer.statistics.events >= 30 }
            try await stopServer(server)
            server = try await startServer(directory, port: port)
            try await bounded("the writers") { try await writers.value }
            // And some changes certainly after the restart.
            try await runWriter(client, writer: 4, operations: 20)
            try await expectConverged(informer, mirror, client)
            let statistics = informer.statistics
            #expect(statistics.lists == 1, "\(statistics)")
            #expect(statistics.watches >= 2 && statistics.failures >= 1, "\(statistics)")
            await informer.stop()
            await client.close()
            try await stopServer(server)
        }
    }

    @Test("a resume from a revision the server no longer has (OUT_OF_RANGE) relists; handlers converge")
    func relistOnOutOfRange() async throws {
        try await withTemporaryDirectory { directory in
            let port = try restartablePort()
            var server = try await startServer(directory, port: port)
            let client = try CapstanClient(servers: [server.address], options: clientOptions())
            try await createMinions(client)
            for index in 0..<10 { _ = try await client.pods.create(Make.pod("base-\(index)", namespace: "ns1", labels: ["app": "a"])) }
            let (informer, mirror) = startedPodInformer(client, options: InformerOptions(initialBackoff: .milliseconds(50), maxBackoff: .milliseconds(500)))
            try await bounded("the first sync") { try await informer.waitUntilSynced() }
            try await expectConverged(informer, mirror, client)
            let seen = informer.list()

            // While the informer cannot reach its server, another one (elsewhere) changes things:
            // deletes some of what the informer holds, updates others, creates new ones.
            try await stopServer(server)
            let elsewhere = try await startServer(directory)
            let other = try CapstanClient(servers: [elsewhere.address], options: clientOptions())
            for pod in seen.prefix(3) { _ = try await other.pods.delete(namespace: pod.metadata.namespace, name: pod.metadata.name) }
            for pod in seen.dropFirst(3).prefix(3) {
                var changed = try await other.pods.get(namespace: pod.metadata.namespace, name: pod.metadata.name)
                changed.metadata.labels["app"] = "changed"
                _ = try await other.pods.update(changed)
            }
            try await runWriter(other, writer: 9, operations: 20)
            await other.close()
            try await stopServer(elsewhere)

            // Back on the informer's address, with no history kept: its revision is too old.
            server = try await startServer(directory, port: port, options: testOptions { $0.historyRevisions = 0; $0.eventRingCapacity = 8 })
            try await expectConverged(informer, mirror, client)
            let statistics = informer.statistics
            #expect(statistics.lists == 2, "\(statistics)")
            #expect(informer.list().filter { $0.metadata.labels["app"] == "changed" }.count == 3)
            #expect(informer.list().filter { $0.metadata.name.hasPrefix("base-") }.count == 7)
            await informer.stop()
            await client.close()
            try await stopServer(server)
        }
    }

    @Test("a watch that is too old right after every listing (OUT_OF_RANGE) makes the informer list again after a growing pause, not at once")
    func relistBacksOff() async throws {
        // The server's ring never keeps up with the listing: every Pods/Watch is OUT_OF_RANGE.
        let tooOld = WatchTooOld()
        try await withServerAndClient(interceptors: [tooOld]) { _, client in
            let informer = client.pods.informer(options: InformerOptions(initialBackoff: .milliseconds(100), maxBackoff: .seconds(1)))
            informer.start()
            // Pauses of 0.1, 0.2, 0.4 s (±20 %) before the second, third and fourth listing; at
            // once, they came milliseconds apart. A loaded machine only lengthens the pauses.
            #expect(await eventually(timeout: .seconds(60)) { tooOld.lists.withLock { $0.count } >= 4 })
            await informer.stop()
            let lists = tooOld.lists.withLock { $0 }
            #expect(lists.count >= 4 && lists[2].duration(to: lists[3]) >= .milliseconds(300), "\(lists)")
        }
    }

    @Test("an informer narrowed by namespace and selectors holds exactly what a List with them returns")
    func narrowed() async throws {
        try await withServerAndClient { _, client in
            try await createMinions(client)
            let informer = client.pods.informer(namespace: "ns1", labelSelector: "app!=c", fieldSelector: "spec.host=")
            let mirror = HandlerMirror()
            informer.addHandler(mirror.handler)
            informer.start()
            try await bounded("the first sync") { try await informer.waitUntilSynced() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 1...2 { group.addTask { try await runWriter(client, writer: writer, operations: 40) } }
                try await group.waitForAll()
            }
            let fresh = try await client.pods.list(namespace: "ns1", labelSelector: "app!=c", fieldSelector: "spec.host=")
            try await eventually("the informer and its handlers to reach the List's revision") {
                informer.resourceVersion >= fresh.resourceVersion && summary(mirror.objects) == summary(informer.list())
            }
            #expect(summary(informer.list()) == summary(fresh.items))
            #expect(summary(mirror.objects) == summary(fresh.items))
            let same = informer.list() == fresh.items
            #expect(same)
            #expect(mirror.violations == [])
            await informer.stop()
        }
    }

    @Test("a selector the server refuses ends the informer with that error instead of retrying for ever")
    func permanentError() async throws {
        try await withServerAndClient { _, client in
            let informer = client.pods.informer(
                labelSelector: "app in (a", options: InformerOptions(initialBackoff: .milliseconds(20)))
            let handler = HandlerMirror()
            informer.addHandler(handler.handler)
            // A wait already under way gets the error, and so does one that starts later.
            let waiting = Task { try await informer.waitUntilSynced() }
            informer.start()
            let outcome = try await bounded("the informer to fail", seconds: 30) {
                await withTaskCancellationHandler { await waiting.result } onCancel: { waiting.cancel() }
            }
            guard case .failure(let thrown) = outcome else {
                Issue.record("synced with a selector the server refuses")
                return
            }
            #expect((thrown as? RPCError)?.code == .invalidArgument, "\(thrown)")
            let error = try #require(informer.failure)
            #expect(error.code == .invalidArgument && error.message.contains("app in (a"), "\(error)")
            let statistics = informer.statistics
            #expect(statistics.failures == 1 && statistics.lists == 0, "\(statistics)")
            await #expect(throws: RPCError.self) { try await informer.waitUntilSynced() }
            // Stopping keeps the failure; the informer does not start again.
            await informer.stop()
            informer.start()
            #expect(informer.failure?.code == .invalidArgument)
            #expect(informer.statistics.failures == 1)
        }
    }

    @Test("stop ends the informer: a wait for a sync that never came throws; the cache keeps its contents")
    func stopping() async throws {
        let refused = try RefusedPort()
        defer { withExtendedLifetime(refused) {} }
        let client = try CapstanClient(servers: ["127.0.0.1:\(refused.port)"], options: clientOptions())
        let informer = client.pods.informer(options: InformerOptions(initialBackoff: .milliseconds(20)))
        informer.start()
        let waiting = Task { try await informer.waitUntilSynced() }
        try await eventually("a failed list") { informer.statistics.failures > 0 }
        try await bounded("stop") { await informer.stop() }
        let outcome = await waiting.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        #expect(!informer.hasSynced)
        await #expect(throws: CancellationError.self) { try await informer.waitUntilSynced() }
        await client.close()
    }
}

/// Refuses every Pods/Watch as too old, as a server whose event ring is outrun by the writes
/// during each listing would, and notes when each first List page was asked for.
final class WatchTooOld: ServerInterceptor {
    let lists = Mutex<[ContinuousClock.Instant]>([])

    func intercept(_ context: ServerContext, next: @Sendable (ServerContext) async throws -> Void) async throws {
        if context.method.method == "List" { lists.withLock { $0.append(.now) } }
        guard context.method.method == "Watch" else { return try await next(context) }
        throw RPCError(code: .outOfRange, message: "resource version 1 is too old; list again")
    }
}
