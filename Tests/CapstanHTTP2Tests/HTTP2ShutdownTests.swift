@testable import CapstanHTTP2
import CapstanRPC
import CapstanTestSupport
import Testing

@Suite("HTTP/2 graceful shutdown", .timeLimit(.minutes(1)))
struct HTTP2ShutdownTests {
    /// Writes 10 messages, waits at the gate, writes 40 more.
    static let paced = MethodDescriptor<Text, Text>(service: "capstan.test.Shutdown", method: "Paced", kind: .serverStreaming)

    @Test("shutdown during server-streaming calls: calls in flight finish, new calls are refused, then listen returns")
    func shutdownDuringStreams() async throws {
        let gate = Gate()
        let group = try EventLoopGroup(threads: 2)
        let transport = try HTTP2ServerTransport(port: 0, group: group)
        var router = RPCRouter()
        Echo.register(in: &router)
        router.serverStreaming(Self.paced) { _, responses, _ in
            for index in 0..<10 { try await responses.write(Text("\(index)")) }
            await gate.wait()
            for index in 10..<50 { try await responses.write(Text("\(index)")) }
        }
        let server = RPCServer(router: router)
        let serving = Task { try await server.serve(on: transport) }
        let target = "127.0.0.1:\(transport.localPort)"
        let clientTransport = try HTTP2ClientTransport(targets: [target], group: group)
        let client = RPCClient(transport: clientTransport)

        // Five calls in flight, each holding after ten messages.
        var calls: [ServerStreamingCall<Text>] = []
        var iterators: [ResponseMessages<Text>.AsyncIterator] = []
        for _ in 0..<5 {
            let call = try await client.serverStreaming(Self.paced, "go")
            var iterator = call.makeAsyncIterator()
            for index in 0..<10 { #expect(try await iterator.next()?.value == "\(index)") }
            calls.append(call)
            iterators.append(iterator)
        }

        transport.beginGracefulShutdown()

        // New connections are refused once the listener closed…
        let fresh = try HTTP2ClientTransport(targets: [target], group: group)
        #expect(await eventually {
            await rpcError { _ = try await RPCClient(transport: fresh).unary(Echo.get, "new") }?.code == .unavailable
        })
        await fresh.close()
        // …and the existing connection takes no new calls once the final GOAWAY arrived.
        #expect(await eventually {
            await rpcError { _ = try await client.unary(Echo.get, "new") }?.code == .unavailable
        })

        // listen has not returned: calls are in flight.
        #expect(transport.activeHandlerCount == 5)

        gate.open()
        for index in iterators.indices {
            var received: [String] = []
            while let message = try await iterators[index].next() { received.append(message.value) }
            #expect(received == (10..<50).map(String.init))
            #expect(calls[index].trailingMetadata != nil)
        }
        try await serving.value
        #expect(transport.connectionCount == 0)
        await clientTransport.close()
        await group.shutdown()
    }

    /// Writes one message, then sleeps (its sleep ends in CancellationError when cut off).
    static let held = MethodDescriptor<Text, Text>(service: "capstan.test.Shutdown", method: "Held", kind: .serverStreaming)

    /// A call the server cuts off when it stops (its grace period ran out) was observed as
    /// CANCELLED, the handler's cancellation, as if the client had left; the client got
    /// UNAVAILABLE, and metrics and logs now say so.
    @Test("a call cut off when the server stops is observed as UNAVAILABLE, not CANCELLED")
    func cutOffCallsAreUnavailable() async throws {
        let recorder = FinishedCallRecorder()
        let group = try EventLoopGroup(threads: 2)
        let transport = try HTTP2ServerTransport(port: 0, group: group)
        var router = RPCRouter()
        Echo.register(in: &router)
        router.serverStreaming(Self.held) { _, responses, _ in
            try await responses.write(Text("0"))
            try await Task.sleep(for: .seconds(50))
        }
        let server = RPCServer(router: router, observers: [recorder])
        let serving = Task { try await server.serve(on: transport) }
        let clientTransport = try HTTP2ClientTransport(targets: ["127.0.0.1:\(transport.localPort)"], group: group)
        let call = try await RPCClient(transport: clientTransport).serverStreaming(Self.held, "go")
        var iterator = call.makeAsyncIterator()
        #expect(try await iterator.next()?.value == "0")
        transport.beginGracefulShutdown()
        // The grace period ends: the serving task is cancelled and the server closes the connection.
        serving.cancel()
        _ = try? await serving.value
        let error = await rpcError { while try await iterator.next() != nil {} }
        #expect(error?.code == .unavailable, "\(String(describing: error))")
        let observed = try #require(await recorder.calls(count: 1).first)
        #expect(observed.status.code == .unavailable, "\(observed.status)")
        await clientTransport.close()
        await group.shutdown()
    }

    @Test("shutdown with no connections returns at once; shutdown before listen too")
    func idleShutdown() async throws {
        let group = try EventLoopGroup(threads: 1)
        let transport = try HTTP2ServerTransport(port: 0, group: group)
        let serving = Task { try await RPCServer(router: RPCRouter()).serve(on: transport) }
        transport.beginGracefulShutdown()
        try await serving.value

        let early = try HTTP2ServerTransport(port: 0, group: group)
        early.beginGracefulShutdown()
        try await RPCServer(router: RPCRouter()).serve(on: early)
        await group.shutdown()
    }

    @Test("idle client connections close when the server shuts down, and the client reconnects to a new server")
    func reconnect() async throws {
        let group = try EventLoopGroup(threads: 2)
        var router = RPCRouter()
        Echo.register(in: &router)
        // Below the ephemeral range, so no other test's server or outgoing connection takes the
        // port while nothing listens on it.
        let port = try restartablePort()
        let first = try HTTP2ServerTransport(port: port, group: group)
        let serving = Task { try await RPCServer(router: router).serve(on: first) }
        var configuration = HTTP2ClientTransport.Configuration()
        configuration.backoff = .init(initial: .milliseconds(20), maximum: .milliseconds(100))
        let clientTransport = try HTTP2ClientTransport(targets: ["127.0.0.1:\(port)"], configuration: configuration, group: group)
        let client = RPCClient(transport: clientTransport)
        #expect(try await client.unary(Echo.get, "one").value == "echo: one")
        first.beginGracefulShutdown()
        try await serving.value
        #expect(await eventually { clientTransport.connectionCount == 0 })
        // Nothing listens: UNAVAILABLE.
        #expect(await rpcError { _ = try await client.unary(Echo.get, "none") }?.code == .unavailable)
        // A new server on the same port: the client reconnects once its backoff passed.
        let second = try HTTP2ServerTransport(port: port, group: group)
        let servingAgain = Task { try await RPCServer(router: router).serve(on: second) }
        #expect(await eventually {
            (try? await client.unary(Echo.get, "two"))?.value == "echo: two"
        })
        await clientTransport.close()
        second.beginGracefulShutdown()
        try await servingAgain.value
        await group.shutdown()
    }
}
