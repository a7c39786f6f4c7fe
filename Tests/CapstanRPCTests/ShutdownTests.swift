import CapstanRPC
import Testing

@Suite("Graceful shutdown", .timeLimit(.minutes(1)))
struct ShutdownTests {
    @Test("calls in flight finish; new calls fail UNAVAILABLE; serve returns")
    func drain() async throws {
        var router = RPCRouter()
        Echo.register(in: &router)
        let transport = InProcessTransport(bufferSize: 4)
        let client = RPCClient(transport: transport.client)
        let server = RPCServer(router: router)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve(on: transport.server) }
            let chat = try await client.bidirectional(Echo.chat, options: .default)
            var responses = chat.responses.makeAsyncIterator()
            try await chat.send("before")
            #expect(try await responses.next()?.value == "echo: before")

            transport.server.beginGracefulShutdown()
            let error = await rpcError { _ = try await client.unary(Echo.get, "late", options: .default) }
            #expect(error?.code == .unavailable)

            try await chat.send("during")
            #expect(try await responses.next()?.value == "echo: during")
            chat.closeSend()
            #expect(try await responses.next() == nil)
            try await group.waitForAll()
        }
    }
}
