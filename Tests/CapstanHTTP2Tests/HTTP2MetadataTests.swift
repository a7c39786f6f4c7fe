import CapstanHTTP2
import CapstanRPC
import Testing

@Suite("HTTP/2 metadata both ways", .timeLimit(.minutes(1)))
struct HTTP2MetadataTests {
    /// Echoes the request metadata as response headers (prefixed `h-`) and trailers (`t-`).
    static let mirror = MethodDescriptor<Text, Text>(service: "capstan.test.Meta", method: "Mirror", kind: .serverStreaming)
    /// Fails with details and trailers.
    static let failing = MethodDescriptor<Text, Text>(service: "capstan.test.Meta", method: "Fail", kind: .unary)

    static func routes(_ router: inout RPCRouter) {
        router.serverStreaming(mirror) { _, responses, context in
            var headers = Metadata()
            var trailers = Metadata()
            for entry in context.metadata {
                try headers.add("h-" + entry.key, entry.value)
                try trailers.add("t-" + entry.key, entry.value)
            }
            try context.addResponseHeaders(headers)
            context.addTrailingMetadata(trailers)
            try await responses.write(Text("peer \(context.peer)"))
        }
        router.unary(failing) { _, _ in
            var trailers = Metadata()
            try trailers.add("reason-bin", binary: [0, 1, 2, 250, 255])
            try trailers.add("reason", "quota")
            throw RPCError(code: .resourceExhausted, message: "over quota", details: [8, 8, 18, 2, 104, 105], trailers: trailers)
        }
    }

    @Test("ASCII and binary metadata reach the handler; headers and trailers come back")
    func roundTrip() async throws {
        try await withHTTP2Server(routes: Self.routes) { harness in
            var metadata = Metadata()
            try metadata.add("x-user", "alice")
            try metadata.add("x-trace-bin", binary: [0, 0xff, 0x10, 0x80, 7])
            try metadata.add("x-user", "bob")
            try metadata.add("empty-bin", binary: [])
            let call = try await harness.client.serverStreaming(Self.mirror, "go", options: CallOptions(metadata: metadata))
            var messages: [String] = []
            for try await message in call { messages.append(message.value) }
            #expect(messages.count == 1)
            #expect(messages.first?.hasPrefix("peer ipv4:127.0.0.1:") == true)
            let headers = try await call.responseMetadata
            #expect(headers["h-x-user"] == [.string("alice"), .string("bob")])
            #expect(headers.firstBinary("h-x-trace-bin") == [0, 0xff, 0x10, 0x80, 7])
            #expect(headers.firstBinary("h-empty-bin") == [])
            let trailers = try #require(call.trailingMetadata)
            #expect(trailers["t-x-user"] == [.string("alice"), .string("bob")])
            #expect(trailers.firstBinary("t-x-trace-bin") == [0, 0xff, 0x10, 0x80, 7])
        }
    }

    @Test("an error carries its details and trailers (trailers-only response)")
    func errorDetails() async throws {
        try await withHTTP2Server(routes: Self.routes) { harness in
            let error = await rpcError { _ = try await harness.client.unary(Self.failing, "x") }
            #expect(error?.code == .resourceExhausted)
            #expect(error?.message == "over quota")
            #expect(error?.details == [8, 8, 18, 2, 104, 105])
            #expect(error?.trailers.firstBinary("reason-bin") == [0, 1, 2, 250, 255])
            #expect(error?.trailers.first("reason") == "quota")
        }
    }
}
