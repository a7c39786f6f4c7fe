@testable import CapstanHTTP2
import CapstanRPC
import CapstanTestSupport
import Testing

@Suite("HTTP/2 many streams and connections", .timeLimit(.minutes(2)))
struct HTTP2LoadTests {
    /// Waits at the gate, then answers.
    static let held = MethodDescriptor<Text, Text>(service: "capstan.test.Load", method: "Held", kind: .unary)

    @Test("1,000 concurrent streams on one connection")
    func thousandStreams() async throws {
        let gate = Gate()
        let arrived = Counter()
        var server = HTTP2ServerTransport.Configuration()
        server.maxConcurrentStreams = 1_000
        try await withHTTP2Server(server: server, routes: { router in
            Echo.register(in: &router)
            router.unary(Self.held) { request, _ in
                arrived.increment()
                await gate.wait()
                return Text("done \(request.value)")
            }
        }) { harness in
            try await withThrowingTaskGroup(of: String.self) { group in
                for index in 0..<1_000 {
                    group.addTask { try await harness.client.unary(Self.held, Text("\(index)")).value }
                }
                // Every call is in a handler at once before any answers.
                #expect(await eventually { arrived.value == 1_000 })
                #expect(harness.server.connectionCount == 1)
                #expect(harness.clientTransport.connectionCount == 1)
                gate.open()
                var answers = Set<String>()
                for try await answer in group { answers.insert(answer) }
                #expect(answers == Set((0..<1_000).map { "done \($0)" }))
            }
        }
    }

    @Test("3,200 calls on one connection: no RST_STREAM for calls that ended, so the server keeps the connection")
    func manyCallsOneConnection() async throws {
        // nghttp2 (and Go) servers limit the streams a client resets (a burst of about 1,000, then
        // 33/s) and end the connection with GOAWAY past that: a reset after every finished call
        // broke the calls in flight after the first thousand.
        try await withHTTP2Server { harness in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        for index in 0..<400 {
                            let answer = try await harness.client.unary(Echo.get, Text("\(worker)-\(index)"))
                            #expect(answer.value == "echo: \(worker)-\(index)")
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(harness.clientTransport.connectionCount == 1)
            #expect(harness.server.connectionCount == 1)
        }
    }

    @Test("past the server's stream limit the client opens another connection")
    func streamLimit() async throws {
        let warmedUp = Gate()
        let gate = Gate()
        let arrived = Counter()
        var server = HTTP2ServerTransport.Configuration()
        server.maxConcurrentStreams = 10
        try await withHTTP2Server(server: server, routes: { router in
            router.unary(Self.held) { request, _ in
                guard warmedUp.isOpen else { return request }
                arrived.increment()
                await gate.wait()
                return request
            }
        }) { harness in
            // The limit arrives with the server's SETTINGS on the first connection.
            _ = try await harness.client.unary(Self.held, "warm-up")
            warmedUp.open()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<25 {
                    group.addTask { _ = try await harness.client.unary(Self.held, Text("\(index)")) }
                }
                #expect(await eventually { arrived.value == 25 })
                #expect(harness.clientTransport.connectionCount == 3)
                #expect(harness.server.connectionCount == 3)
                gate.open()
                try await group.waitForAll()
            }
        }
    }

    @Test("200 connections at once")
    func twoHundredConnections() async throws {
        let gate = Gate()
        let arrived = Counter()
        try await withHTTP2Server(routes: { router in
            router.unary(Self.held) { request, _ in
                arrived.increment()
                await gate.wait()
                return request
            }
        }) { harness in
            let transports = try (0..<200).map { _ in try harness.makeClientTransport() }
            try await withThrowingTaskGroup(of: String.self) { group in
                for (index, transport) in transports.enumerated() {
                    group.addTask {
                        try await RPCClient(transport: transport).unary(Self.held, Text("\(index)")).value
                    }
                }
                #expect(await eventually { arrived.value == 200 })
                #expect(harness.server.connectionCount == 200)
                gate.open()
                var answers = Set<String>()
                for try await answer in group { answers.insert(answer) }
                #expect(answers.count == 200)
            }
            for transport in transports { await transport.close() }
            #expect(await eventually { harness.server.connectionCount == 0 })
        }
    }
}
