import CapstanHTTP2
import CapstanRPC
import Testing

@Suite("HTTP/2 call kinds end to end", .timeLimit(.minutes(1)))
struct HTTP2CallKindTests {
    @Test("unary")
    func unary() async throws {
        try await withHTTP2Server { harness in
            let response = try await harness.client.unary(Echo.get, "hello")
            #expect(response.value == "echo: hello")
        }
    }

    @Test("unary over IPv6 loopback")
    func unaryIPv6() async throws {
        try await withHTTP2Server(host: "::1") { harness in
            #expect(harness.server.localAddress.hasPrefix("[::1]:"))
            let response = try await harness.client.unary(Echo.get, "v6")
            #expect(response.value == "echo: v6")
        }
    }

    @Test("many unary calls in sequence reuse one connection")
    func sequential() async throws {
        try await withHTTP2Server { harness in
            for index in 0..<200 {
                let response = try await harness.client.unary(Echo.get, Text("\(index)"))
                #expect(response.value == "echo: \(index)")
            }
            #expect(harness.clientTransport.connectionCount == 1)
        }
    }

    @Test("server streaming delivers every message in order, then trailers")
    func serverStreaming() async throws {
        try await withHTTP2Server { harness in
            let call = try await harness.client.serverStreaming(Echo.expand, "100")
            var received: [String] = []
            for try await message in call { received.append(message.value) }
            #expect(received == (0..<100).map(String.init))
            #expect(call.trailingMetadata != nil)
        }
    }

    @Test("client streaming")
    func clientStreaming() async throws {
        try await withHTTP2Server { harness in
            let call = try await harness.client.clientStreaming(Echo.collect)
            for part in ["a", "b", "c"] { try await call.send(Text(part)) }
            #expect(try await call.finish().value == "a,b,c")
        }
    }

    @Test("bidirectional ping-pong, then the responses end after closeSend")
    func bidirectional() async throws {
        try await withHTTP2Server { harness in
            let call = try await harness.client.bidirectional(Echo.chat)
            var responses = call.responses.makeAsyncIterator()
            for index in 0..<50 {
                try await call.send(Text("m\(index)"))
                #expect(try await responses.next()?.value == "echo: m\(index)")
            }
            call.closeSend()
            #expect(try await responses.next() == nil)
        }
    }

    @Test("an unknown method is UNIMPLEMENTED")
    func unknownMethod() async throws {
        try await withHTTP2Server { harness in
            let missing = MethodDescriptor<Text, Text>(service: "capstan.test.Missing", method: "Nope", kind: .unary)
            let error = await rpcError { _ = try await harness.client.unary(missing, "x") }
            #expect(error?.code == .unimplemented)
        }
    }

    @Test("a handler's error reaches the client with its message")
    func handlerError() async throws {
        let fail = MethodDescriptor<Text, Text>(service: "capstan.test.Fail", method: "Fail", kind: .unary)
        try await withHTTP2Server(routes: { router in
            router.unary(fail) { _, _ in throw RPCError(code: .notFound, message: "no such thing: ünïcode % 100") }
        }) { harness in
            let error = await rpcError { _ = try await harness.client.unary(fail, "x") }
            #expect(error?.code == .notFound)
            #expect(error?.message == "no such thing: ünïcode % 100")
        }
    }
}
