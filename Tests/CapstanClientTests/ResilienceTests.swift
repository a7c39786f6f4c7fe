import CapstanAPI
import CapstanAPIServerHost
import CapstanClient
import CapstanRPC
import CapstanTestSupport
import Testing

@Suite("CapstanClient deadlines, retries and failover", .timeLimit(.minutes(3)))
struct ResilienceTests {
    static let podsGet = "/capstan.v1.Pods/Get"
    static let podsCreate = "/capstan.v1.Pods/Create"
    static let podsWatch = "/capstan.v1.Pods/Watch"

    @Test("a call that outlasts its deadline fails with DEADLINE_EXCEEDED, per call and by default")
    func deadlines() async throws {
        let recorder = CallRecorder()
        recorder.delay(Self.podsGet, by: .seconds(5))
        try await withServerAndClient(interceptors: [recorder]) { server, client in
            _ = try await client.pods.create(Make.pod("p"))
            #expect(await rpcError { _ = try await client.pods.get(name: "p", timeout: .milliseconds(300)) }.code == .deadlineExceeded)
            // The client's default deadline applies to calls that name none.
            let short = try CapstanClient(servers: [server.address], options: clientOptions { $0.timeout = .milliseconds(300) })
            #expect(await rpcError { _ = try await short.pods.get(name: "p") }.code == .deadlineExceeded)
            // Other calls are not held back (with a deadline of their own that a loaded machine
            // cannot miss).
            #expect(try await short.pods.list(timeout: .seconds(30)).items.count == 1)
            await short.close()
        }
    }

    @Test("a watch that fails to start with UNAVAILABLE is retried before it is handed over")
    func watchStartRetried() async throws {
        let recorder = CallRecorder()
        try await withServerAndClient(interceptors: [recorder]) { _, client in
            recorder.failBefore(Self.podsWatch, times: 2)
            let stream = try await client.pods.watch()
            #expect(recorder.count(Self.podsWatch) == 3)
            let created = try await client.pods.create(Make.pod("p"))
            let first = try await bounded("the first event") { () async throws -> WatchEvent<Pod>? in
                var events = stream.makeAsyncIterator()
                return try await events.next()
            }
            #expect(first?.type == .added && first?.object == created)
            stream.cancel()
        }
    }

    @Test("Get is retried after UNAVAILABLE; a Create that reached the server is not")
    func retries() async throws {
        let recorder = CallRecorder()
        try await withServerAndClient(interceptors: [recorder]) { server, client in
            _ = try await client.pods.create(Make.pod("p"))
            let createsBefore = recorder.count(Self.podsCreate)

            recorder.failBefore(Self.podsGet, times: 2)
            #expect(try await client.pods.get(name: "p").metadata.name == "p")
            #expect(recorder.count(Self.podsGet) == 3)

            // The create is processed, then its response "lost": the client must not repeat it.
            recorder.failAfter(Self.podsCreate)
            let error = await rpcError { _ = try await client.pods.create(Make.pod("q")) }
            #expect(error.code == .unavailable)
            #expect(recorder.count(Self.podsCreate) == createsBefore + 1)
            #expect(try await client.pods.get(name: "q").metadata.name == "q")

            // Without retries a Get fails at once.
            let once = try CapstanClient(servers: [server.address], options: clientOptions { $0.retry = .none })
            let getsBefore = recorder.count(Self.podsGet)
            recorder.failBefore(Self.podsGet, times: 1)
            #expect(await rpcError { _ = try await once.pods.get(name: "p") }.code == .unavailable)
            #expect(recorder.count(Self.podsGet) == getsBefore + 1)
            await once.close()

            // Retries stop after maxAttempts.
            let three = try CapstanClient(
                servers: [server.address], options: clientOptions { $0.retry = RetryPolicy(maxAttempts: 3, initialBackoff: .milliseconds(10)) })
            let getsBeforeThree = recorder.count(Self.podsGet)
            recorder.failBefore(Self.podsGet, times: 10)
            #expect(await rpcError { _ = try await three.pods.get(name: "p") }.code == .unavailable)
            #expect(recorder.count(Self.podsGet) == getsBeforeThree + 3)
            recorder.failBefore(Self.podsGet, times: 0)
            await three.close()
        }
    }

    @Test("a Create that never reached a server is retried until one answers, and happens once")
    func unsentCreateIsRetried() async throws {
        try await withTemporaryDirectory { directory in
            // Held until the server starts there, so nothing else takes it meanwhile.
            var held: RefusedPort? = try RefusedPort()
            let port = held!.port
            let recorder = CallRecorder()
            let client = try CapstanClient(
                servers: ["127.0.0.1:\(port)"],
                options: clientOptions { $0.retry = RetryPolicy(maxAttempts: 200, initialBackoff: .milliseconds(20), maxBackoff: .milliseconds(100)) })
            let creating = Task { try await client.pods.create(Make.pod("late")) }
            // Let the first attempts fail (connection refused), then start the server on that port.
            try await Task.sleep(for: .milliseconds(300))
            held = nil
            let server = try await startServer(directory, port: port, interceptors: [recorder])
            let created = try await bounded("the create") { try await creating.value }
            #expect(created.metadata.name == "late")
            #expect(recorder.count(Self.podsCreate) == 1)
            #expect(try await client.pods.list().items.map(\.metadata.name) == ["late"])
            await client.close()
            try await stopServer(server)
        }
    }

    @Test("calls fail over to the next server, and back when the first address serves again")
    func failover() async throws {
        try await withTemporaryDirectory { directory in
            var held: RefusedPort? = try RefusedPort()
            let firstPort = held!.port
            let second = try await startServer(directory)
            let client = try CapstanClient(servers: ["127.0.0.1:\(firstPort)", second.address], options: clientOptions())
            // Nothing listens on the first address: every call goes to the second.
            for index in 0..<3 { _ = try await client.pods.create(Make.pod("p\(index)")) }
            #expect(try await client.pods.list().items.count == 3)

            // The second server goes away and a new one serves the same data on the first address.
            try await stopServer(second)
            held = nil
            let first = try await startServer(directory, port: firstPort)
            let names = try await bounded("a list after failing back") { try await client.pods.list().items.map(\.metadata.name) }
            #expect(names == ["p0", "p1", "p2"])
            _ = try await client.pods.create(Make.pod("p3"))
            #expect(try await client.pods.get(name: "p3").metadata.name == "p3")
            await client.close()
            try await stopServer(first)
        }
    }

    @Test("a server that answers UNAVAILABLE is passed over: the retry and later calls go to the next one")
    func unavailableServerIsPassedOver() async throws {
        try await withTemporaryDirectory { firstDirectory in
            try await withTemporaryDirectory { secondDirectory in
                let recorder = CallRecorder()
                recorder.failBefore(Self.podsGet, times: 1_000)
                let first = try await startServer(firstDirectory, interceptors: [recorder])
                let second = try await startServer(secondDirectory)
                let client = try CapstanClient(servers: [first.address, second.address], options: clientOptions())
                // The Get goes to the first server, which cannot serve it; its retry to the second.
                #expect(await rpcError { _ = try await client.pods.get(name: "p") }.code == .notFound)
                #expect(recorder.count(Self.podsGet) == 1)
                // Later calls start at the second server.
                let created = try await client.pods.create(Make.pod("p"))
                #expect(try await client.pods.get(name: "p") == created)
                #expect(recorder.count(Self.podsGet) == 1)
                #expect(recorder.count(Self.podsCreate) == 0)
                await client.close()
                try await stopServer(first)
                try await stopServer(second)
            }
        }
    }

    @Test("creates in flight while the server restarts are never stored twice by a retry")
    func noDuplicateWritesAcrossRestart() async throws {
        try await withTemporaryDirectory { directory in
            let port = try restartablePort()
            var server = try await startServer(directory, port: port)
            let client = try CapstanClient(servers: [server.address], options: clientOptions())
            let done = Task {
                try await withThrowingTaskGroup(of: [String: RPCCode].self) { group in
                    for writer in 0..<4 {
                        group.addTask {
                            var outcomes: [String: RPCCode] = [:]
                            for index in 0..<100 {
                                let name = "c\(writer)-\(index)"
                                do {
                                    _ = try await client.pods.create(Make.pod(name))
                                    outcomes[name] = .ok
                                } catch let error as RPCError {
                                    outcomes[name] = error.code
                                }
                            }
                            return outcomes
                        }
                    }
                    return try await group.reduce(into: [:]) { $0.merge($1) { a, _ in a } }
                }
            }
            try await eventually("some creates before the restart") { try await client.pods.list().items.count >= 40 }
            let beforeRestart = try await client.pods.list().items.count
            try await stopServer(server)
            server = try await startServer(directory, port: port)
            let outcomes = try await bounded("the writers") { try await done.value }
            let stored = Set(try await client.pods.list().items.map(\.metadata.name))
            // A retry of a create that had been stored would answer ALREADY_EXISTS.
            #expect(outcomes.filter { $0.value == .alreadyExists }.isEmpty, "\(outcomes.filter { $0.value != .ok })")
            for (name, code) in outcomes where code == .ok { #expect(stored.contains(name), "\(name)") }
            #expect(beforeRestart < 400, "the restart came while creates were going on")
            #expect(outcomes.values.filter { $0 == .ok }.count >= 300, "most creates succeed across the restart")
            await client.close()
            try await stopServer(server)
        }
    }

    @Test("with no server reachable, reads fail with UNAVAILABLE after their retries, within the deadline")
    func nothingReachable() async throws {
        let (first, second, third) = (try RefusedPort(), try RefusedPort(), try RefusedPort())
        defer { withExtendedLifetime((first, second, third)) {} }
        let client = try CapstanClient(
            servers: ["127.0.0.1:\(first.port)", "localhost:\(second.port)"],
            options: clientOptions { $0.retry = RetryPolicy(maxAttempts: 3, initialBackoff: .milliseconds(10)) })
        let error = await rpcError { _ = try await client.pods.get(name: "p") }
        #expect(error.code == .unavailable, "\(error)")
        let short = try CapstanClient(
            servers: ["127.0.0.1:\(third.port)"],
            options: clientOptions { $0.timeout = .milliseconds(200); $0.retry = RetryPolicy(maxAttempts: 1000) })
        #expect(await rpcError { _ = try await short.pods.list() }.code == .deadlineExceeded)
        await client.close()
        await short.close()
    }
}
