import CapstanRPC
import Testing

@Suite("Metadata between client and server", .timeLimit(.minutes(1)))
struct MetadataExchangeTests {
    static let inspect = MethodDescriptor<Text, Text>(service: "capstan.test.Meta", method: "Inspect", kind: .serverStreaming)
    static let refuse = MethodDescriptor<Text, Text>(service: "capstan.test.Meta", method: "Refuse", kind: .unary)

    static func routes(_ router: inout RPCRouter) {
        router.serverStreaming(inspect) { _, responses, context in
            let token = context.metadata.first("x-token") ?? "none"
            let blob = context.metadata.firstBinary("x-blob-bin") ?? []
            try context.addResponseHeaders(["x-seen-token": .string(token), "x-reversed-bin": .binary(blob.reversed())])
            try await responses.write(Text("\(context.metadata.count)"))
            #expect(throws: RPCError.self) { try context.addResponseHeaders(["x-late": "1"]) }
            context.addTrailingMetadata(["x-done": "yes", "x-count-bin": .binary([UInt8(blob.count)])])
        }
        router.unary(refuse) { _, context in
            try context.addResponseHeaders(["x-header": "h"])
            throw RPCError(code: .permissionDenied, message: "no", trailers: ["x-reason": "policy"])
        }
    }

    @Test("ASCII and -bin metadata travel both ways")
    func bothWays() async throws {
        try await withServer(routes: Self.routes) { client, _ in
            var options = CallOptions()
            try options.metadata.add("X-Token", "secret")
            try options.metadata.add("x-blob-bin", binary: [0, 1, 255])
            let call = try await client.serverStreaming(Self.inspect, "", options: options)
            let headers = try await call.responseMetadata
            #expect(headers.first("x-seen-token") == "secret")
            #expect(headers.firstBinary("x-reversed-bin") == [255, 1, 0])
            var messages: [String] = []
            for try await message in call { messages.append(message.value) }
            #expect(messages == ["2"])
            #expect(call.trailingMetadata?.first("x-done") == "yes")
            #expect(call.trailingMetadata?.firstBinary("x-count-bin") == [3])
        }
    }

    @Test("a trailers-only error carries the handler's headers and the error's trailers")
    func trailersOnly() async throws {
        try await withServer(routes: Self.routes) { client, _ in
            let error = await rpcError { _ = try await client.unary(Self.refuse, "", options: .default) }
            #expect(error?.code == .permissionDenied)
            #expect(error?.trailers.first("x-header") == "h")
            #expect(error?.trailers.first("x-reason") == "policy")
        }
    }
}
