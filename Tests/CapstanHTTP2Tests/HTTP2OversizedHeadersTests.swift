@testable import CapstanHTTP2
import CapstanAPI
import CapstanRPC
import CapstanWire
import Testing

/// Statuses too large for a header block, response headers nghttp2 cannot send, and request
/// header blocks over the server's limit: the call concerned fails (or is cut), before its deadline, and
/// alone.
@Suite("HTTP/2 oversized statuses and header blocks", .timeLimit(.minutes(1)))
struct HTTP2OversizedHeadersTests {
    static let service = "capstan.test.Big"
    /// Fails at once with `hugeError` (a trailers-only response).
    static let fail = MethodDescriptor<Text, Text>(service: service, method: "Fail", kind: .unary)
    /// Sends one message, then fails with `hugeError` (trailers after DATA).
    static let failLate = MethodDescriptor<Text, Text>(service: service, method: "FailLate", kind: .serverStreaming)
    /// "headers": 70 KB of response headers before a message; "trailers": 70 KB of trailing
    /// metadata after one (the handler's own metadata is not cut: nghttp2 cannot send it).
    static let bigMetadata = MethodDescriptor<Text, Text>(service: service, method: "BigMetadata", kind: .serverStreaming)

    static let violationCount = 2000
    /// About 130 KB, with characters of 1, 2 and 3 UTF-8 bytes (percent-encoded to 3 each).
    static let hugeMessage = String(repeating: "bad ports: é ü ✓; ", count: 6000)

    /// Built once (2,000 violations take a while in a debug build).
    static let hugeError: RPCError = {
        var badRequest = Google_Rpc_BadRequest()
        badRequest.fieldViolations = (0..<violationCount).map { index in
            var violation = Google_Rpc_BadRequest.FieldViolation()
            violation.field = "spec.containers[0].ports[\(index)].container_port"
            violation.description = "must be between 1 and 65535"
            return violation
        }
        var any = Google_Protobuf_Any()
        any.typeUrl = "type.googleapis.com/google.rpc.BadRequest"
        any.value = badRequest.serializedBytes()
        var status = Google_Rpc_Status()
        status.code = Int32(RPCCode.invalidArgument.rawValue)
        status.message = hugeMessage
        status.details = [any]
        return RPCError(code: .invalidArgument, message: hugeMessage, details: status.serializedBytes())
    }()

    static func routes(_ router: inout RPCRouter) {
        Echo.register(in: &router)
        router.unary(fail) { _, _ in throw hugeError }
        router.serverStreaming(failLate) { _, responses, _ in
            try await responses.write(Text("first"))
            throw hugeError
        }
        router.serverStreaming(bigMetadata) { request, responses, context in
            var metadata = Metadata()
            try metadata.add("x-big", String(repeating: "m", count: 70_000))
            if request.value == "headers" {
                try context.addResponseHeaders(metadata)
            } else {
                context.addTrailingMetadata(metadata)
            }
            try await responses.write(Text("one"))
        }
    }

    /// The error is the handler's, its message and details cut and consistent.
    static func expectBounded(_ error: RPCError?) throws {
        let error = try #require(error)
        #expect(error.code == .invalidArgument)
        #expect(GRPCStatusMessage.encode(error.message).utf8.count <= GRPCResponseHeaders.maxMessageCount)
        let note = try #require(error.message.lastIndex(of: "…"))
        let kept = String(error.message[..<note])
        #expect(kept.utf8.count > 500)
        #expect(hugeMessage.hasPrefix(kept))
        #expect(error.message.hasSuffix("… (\(hugeMessage.utf8.count - kept.utf8.count) more bytes)"))

        let details = try #require(error.details)
        #expect(details.count <= GRPCResponseHeaders.maxDetailsCount)
        let status = try Google_Rpc_Status(serializedBytes: details)
        #expect(status.code == Int32(RPCCode.invalidArgument.rawValue))
        #expect(status.message == error.message)
        let detail = try #require(status.details.first)
        let violations = try Google_Rpc_BadRequest(serializedBytes: detail.value).fieldViolations
        #expect(violations.count > 10)
        #expect(violations.first?.field == "spec.containers[0].ports[0].container_port")
        let omitted = violationCount - (violations.count - 1)
        #expect(violations.last?.description.hasPrefix("and \(omitted) more field violations") == true)
    }

    @Test("a huge status (message and BadRequest details) reaches the client cut, code intact, before the deadline")
    func hugeStatus() async throws {
        try await withHTTP2Server(routes: Self.routes) { harness in
            // Without a bound on the status the calls hang: they end DEADLINE_EXCEEDED instead.
            let options = CallOptions(timeout: .seconds(10))
            let error = await rpcError { _ = try await harness.client.unary(Self.fail, "x", options: options) }
            try Self.expectBounded(error)
            let late = await rpcError {
                let call = try await harness.client.serverStreaming(Self.failLate, "x", options: options)
                var messages: [String] = []
                for try await message in call { messages.append(message.value) }
            }
            try Self.expectBounded(late)
        }
    }

    @Test("150 huge statuses on one connection, then a plain call on it: no stream is left open")
    func noStreamLeak() async throws {
        try await withHTTP2Server(routes: Self.routes) { harness in
            let port = harness.server.localPort
            let (statuses, last) = try await runBlocking {
                let raw = try RawHTTP2Client(port: port)
                defer { raw.close() }
                try raw.startSession()
                // Past the server's 100 streams: the client queues the rest until streams close.
                let ids = try (0..<150).map { _ in
                    try raw.request(path: "/\(Self.service)/Fail", body: grpcPrefix(length: 1) + [65])
                }
                try raw.run { client in ids.allSatisfy { client.responses[$0]?.closed == true } }
                let next = try raw.request(path: HTTP2MalformedPeerTests.getPath, body: grpcPrefix(length: 2) + Array("ok".utf8))
                try raw.run { $0.responses[next]?.closed == true }
                return (ids.map { raw.responses[$0]?.value("grpc-status") }, raw.responses[next])
            }
            #expect(statuses.allSatisfy { $0 == String(RPCCode.invalidArgument.rawValue) })
            #expect(last?.value("grpc-status") == "0")
            #expect(last?.data == grpcPrefix(length: 8) + Array("echo: ok".utf8))
        }
    }

    @Test("response headers or trailers nghttp2 cannot send reset the stream; the connection carries on")
    func unsendableMetadata() async throws {
        try await withHTTP2Server(routes: Self.routes) { harness in
            // Without a bound on the status the calls hang: they end DEADLINE_EXCEEDED instead.
            let options = CallOptions(timeout: .seconds(10))
            for which in ["headers", "trailers"] {
                let error = await rpcError {
                    let call = try await harness.client.serverStreaming(Self.bigMetadata, Text(which), options: options)
                    for try await _ in call {}
                }
                #expect(error != nil && error?.code != .deadlineExceeded, "\(which): \(String(describing: error))")
            }
            let answer = try await harness.client.unary(Echo.get, "ok")
            #expect(answer.value == "echo: ok")
        }
    }

    @Test("a request header block over the limit (200 x 1 KB) fails alone; a long-lived call on the connection carries on")
    func oversizedRequestHeaders() async throws {
        try await withHTTP2Server(routes: Self.routes) { harness in
            let port = harness.server.localPort
            let (chat, big, next, goAway, peerClosed) = try await runBlocking {
                let raw = try RawHTTP2Client(port: port)
                defer { raw.close() }
                try raw.startSession()
                // A bidirectional call that stays open, answered once.
                let chat = try raw.request(
                    path: "/\(Echo.service)/Chat", body: grpcPrefix(length: 2) + Array("hi".utf8), endStream: false)
                try raw.run { !($0.responses[chat]?.data.isEmpty ?? true) }
                let metadata = (0..<200).map { ("x-meta-\($0)", String(repeating: "v", count: 1000)) }
                let big = try raw.request(
                    path: HTTP2MalformedPeerTests.getPath, extraHeaders: metadata, body: grpcPrefix(length: 2) + Array("hi".utf8))
                try raw.run { $0.responses[big]?.closed == true }
                let next = try raw.request(path: HTTP2MalformedPeerTests.getPath, body: grpcPrefix(length: 2) + Array("ok".utf8))
                try raw.run { $0.responses[next]?.closed == true }
                return (raw.responses[chat], raw.responses[big], raw.responses[next], raw.goAwayReceived, raw.peerClosed)
            }
            #expect(!goAway)
            #expect(!peerClosed)
            #expect(big?.value("grpc-status") == String(RPCCode.resourceExhausted.rawValue))
            #expect(big?.value("grpc-message")?.contains("over the server's limit of 16384") == true)
            #expect(next?.value("grpc-status") == "0")
            #expect(chat?.closed == false)
            #expect(chat?.resetCode == nil)
            #expect(chat?.data == grpcPrefix(length: 8) + Array("echo: hi".utf8))
        }
    }

    @Test("a request header block of HPACK references decoding to over 64 times the limit ends the connection, cheaply")
    func headerReferenceFlood() async throws {
        try await withHTTP2Server(routes: Self.routes) { harness in
            let port = harness.server.localPort
            let (first, peerClosed) = try await runBlocking { () throws -> (RawHTTP2Client.Response?, Bool) in
                let raw = try RawHTTP2Client(port: port)
                defer { raw.close() }
                try raw.startSession()
                // One 3 KB field, then references to it: the client's HPACK encoder puts the first
                // copy in the dynamic table (it indexes entries up to 3/4 of the table's 4 KiB) and
                // sends each further copy as a one-byte reference.
                let first = try raw.request(
                    path: HTTP2MalformedPeerTests.getPath, extraHeaders: [("x-bomb", String(repeating: "a", count: 3000))],
                    body: grpcPrefix(length: 2) + Array("hi".utf8))
                try raw.run { $0.responses[first]?.closed == true }
                // 400 x 3 KB: 1.2 MB decoded, over 64 x 16 KiB, from about 3 KB on the wire.
                let flood = (0..<400).map { _ in ("x-bomb", String(repeating: "a", count: 3000)) }
                _ = try raw.request(path: HTTP2MalformedPeerTests.getPath, extraHeaders: flood, body: grpcPrefix(length: 2) + Array("hi".utf8))
                try? raw.run { $0.peerClosed }
                if !raw.peerClosed { try raw.readUntilClosed() }
                return (raw.responses[first], raw.peerClosed)
            }
            // The first block is under the 16 KiB limit.
            #expect(first?.value("grpc-status") == "0")
            #expect(peerClosed)
            // The server serves others.
            #expect(try await harness.client.unary(Echo.get, "after").value == "echo: after")
        }
    }
}
