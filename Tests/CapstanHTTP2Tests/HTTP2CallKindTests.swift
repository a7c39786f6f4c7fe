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

    @Test("a reader preferring the stream's executor is resumed on the loop that receives the stream")
    func readerOnTheStreamsLoop() async throws {
        try await withHTTP2Server { harness in
            /// Opens an Expand of 50 and reads it, noting for each part whether it was read on
            /// the stream's loop; prefers that loop for the reading when `onLoop`.
            func read(onLoop: Bool) async throws -> (parts: Int, onLoop: Int, known: Bool) {
                let stream = try await harness.clientTransport.openStream(path: Echo.expand.path, metadata: Metadata(), deadline: nil)
                try await stream.writer.writeMessage(Text("50").serializedBytes())
                stream.writer.closeSend()
                let loop = stream.executor as? EventLoop
                let known = loop.map { loop in harness.group.loops.contains { $0 === loop } } ?? false
                return try await withTaskExecutorPreference(onLoop ? stream.executor : nil) {
                    var (parts, inLoop) = (0, 0)
                    for try await _ in stream.responses {
                        parts += 1
                        if loop?.inEventLoop == true { inLoop += 1 }
                    }
                    return (parts, inLoop, known)
                }
            }
            let preferred = try await read(onLoop: true)
            #expect(preferred.known)
            // Headers, 50 messages, the status: every one read on the loop.
            #expect(preferred.parts == 52)
            #expect(preferred.onLoop == 52)
            // Without the preference the reader runs on the global executor's threads.
            let global = try await read(onLoop: false)
            #expect(global.parts == 52)
            #expect(global.onLoop == 0)
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
