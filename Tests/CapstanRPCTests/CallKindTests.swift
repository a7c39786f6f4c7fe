import CapstanRPC
import Testing

@Suite("Call kinds over the in-process transport", .timeLimit(.minutes(1)))
struct CallKindTests {
    @Test("unary")
    func unary() async throws {
        try await withServer(routes: Echo.register) { client, _ in
            let response = try await client.unary(Echo.get, "hello", options: .default)
            #expect(response.value == "echo: hello")
        }
    }

    @Test("server streaming delivers every message in order, then trailers")
    func serverStreaming() async throws {
        try await withServer(routes: Echo.register) { client, _ in
            let call = try await client.serverStreaming(Echo.expand, "5", options: .default)
            var received: [String] = []
            for try await message in call { received.append(message.value) }
            #expect(received == ["0", "1", "2", "3", "4"])
            #expect(call.trailingMetadata != nil)
        }
    }

    @Test("client streaming")
    func clientStreaming() async throws {
        try await withServer(routes: Echo.register) { client, _ in
            let call = try await client.clientStreaming(Echo.collect, options: .default)
            for part in ["a", "b", "c"] { try await call.send(Text(part)) }
            #expect(try await call.finish().value == "a,b,c")
        }
    }

    @Test("bidirectional ping-pong, then the responses end after closeSend")
    func bidirectional() async throws {
        try await withServer(routes: Echo.register) { client, _ in
            let call = try await client.bidirectional(Echo.chat, options: .default)
            var responses = call.responses.makeAsyncIterator()
            for index in 0..<10 {
                try await call.send(Text("m\(index)"))
                #expect(try await responses.next()?.value == "echo: m\(index)")
            }
            call.closeSend()
            #expect(try await responses.next() == nil)
        }
    }

    @Test("the router lists services and methods in registration order")
    func services() {
        var router = RPCRouter()
        Echo.register(in: &router)
        router.answer(path: "/capstan.v1.Minions/Update", with: RPCError(code: .unimplemented, message: "no"))
        #expect(router.services.map(\.name) == [Echo.service])
        #expect(router.services.first?.methods.map(\.method) == ["Get", "Expand", "Collect", "Chat"])
        #expect(router.services.first?.methods.map(\.kind) == [.unary, .serverStreaming, .clientStreaming, .bidirectional])
        #expect(router.method(for: "/capstan.test.Echo/Get")?.requestType == "capstan.test.Text")
        #expect(Echo.chat.path == "/capstan.test.Echo/Chat")
    }
}
