import CapstanHTTP2
import CapstanRPC
import Testing

@Suite("HTTP/2 large messages and size limits", .timeLimit(.minutes(2)))
struct HTTP2MessageSizeTests {
    static let limit = 4 * 1024 * 1024

    @Test("messages up to the 4 MiB limit pass both ways", arguments: [0, 1, 16_383, 16_384, 65_536, 1_000_000, 4 * 1024 * 1024])
    func upToLimit(size: Int) async throws {
        try await withHTTP2Server { harness in
            let request = Blob(count: size)
            let response = try await harness.client.unary(Echo.blob, request)
            #expect(response.bytes == request.bytes)
        }
    }

    @Test("a request past the server's limit fails with RESOURCE_EXHAUSTED, and the server keeps serving")
    func requestTooLarge() async throws {
        try await withHTTP2Server { harness in
            let error = await rpcError { _ = try await harness.client.unary(Echo.blob, Blob(count: Self.limit + 1)) }
            #expect(error?.code == .resourceExhausted)
            let response = try await harness.client.unary(Echo.get, "still here")
            #expect(response.value == "echo: still here")
        }
    }

    @Test("a response past the client's limit fails with RESOURCE_EXHAUSTED")
    func responseTooLarge() async throws {
        var server = HTTP2ServerTransport.Configuration()
        server.maxReceiveMessageSize = 16 * 1024 * 1024
        try await withHTTP2Server(server: server) { harness in
            let call = try await harness.client.serverStreaming(Echo.blobs, Text("1:\(Self.limit + 1)"))
            let error = await rpcError { for try await _ in call {} }
            #expect(error?.code == .resourceExhausted)
            let response = try await harness.client.unary(Echo.get, "after")
            #expect(response.value == "echo: after")
        }
    }

    @Test("a smaller configured limit applies on both sides")
    func configuredLimits() async throws {
        var server = HTTP2ServerTransport.Configuration()
        server.maxReceiveMessageSize = 1000
        var client = HTTP2ClientTransport.Configuration()
        client.maxReceiveMessageSize = 2000
        try await withHTTP2Server(server: server, client: client) { harness in
            #expect(try await harness.client.unary(Echo.blob, Blob(count: 1000)).bytes.count == 1000)
            let tooBig = await rpcError { _ = try await harness.client.unary(Echo.blob, Blob(count: 1001)) }
            #expect(tooBig?.code == .resourceExhausted)
            let call = try await harness.client.serverStreaming(Echo.blobs, Text("2:2001"))
            let responseTooBig = await rpcError { for try await _ in call {} }
            #expect(responseTooBig?.code == .resourceExhausted)
        }
    }

    @Test("many large messages stream in both directions")
    func streamingLarge() async throws {
        try await withHTTP2Server { harness in
            let call = try await harness.client.serverStreaming(Echo.blobs, Text("20:300000"))
            var count = 0
            for try await blob in call {
                #expect(blob.bytes.count == 300_000)
                count += 1
            }
            #expect(count == 20)
        }
    }
}
