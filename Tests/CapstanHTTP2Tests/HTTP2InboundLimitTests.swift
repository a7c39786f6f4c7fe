@testable import CapstanHTTP2
import CapstanRPC
import Testing

/// Request messages a client begins and does not finish: the server holds their bytes, so it
/// bounds them per connection and per event loop (`connectionInboundLimit`, `loopInboundLimit`).
@Suite("HTTP/2 unfinished request messages are bounded", .timeLimit(.minutes(1)))
struct HTTP2InboundLimitTests {
    static let blobPath = "/capstan.test.Echo/Blob"

    /// On a fresh raw connection, begins a 200,000-byte message with `sent` bytes of it on
    /// each of `streams` streams, never finishing it; returns the client and the stream ids.
    static func begin(port: Int, streams: Int, sent: Int) throws -> (RawHTTP2Client, [Int32]) {
        let raw = try RawHTTP2Client(port: port)
        try raw.startSession()
        let body = grpcPrefix(length: 200_000) + [UInt8](repeating: 7, count: sent)
        let ids = try (0..<streams).map { _ in try raw.request(path: blobPath, body: body, endStream: false) }
        return (raw, ids)
    }

    /// The unfinished request bytes each loop's ledger holds, read on its loop.
    static func loopInbound(_ server: HTTP2ServerTransport) async -> [Int] {
        var totals: [Int] = []
        for (loop, ledger) in zip(server.group.loops, server.loopInboundLedgers) {
            totals.append(await withCheckedContinuation { continuation in
                loop.execute { continuation.resume(returning: ledger.queued) }
            })
        }
        return totals
    }

    @Test("a stream that takes its connection past the limit fails RESOURCE_EXHAUSTED; the others and other clients go on")
    func perConnection() async throws {
        var configuration = HTTP2ServerTransport.Configuration()
        configuration.connectionInboundLimit = 256 * 1024
        try await withHTTP2Server(server: configuration) { harness in
            let port = harness.server.localPort
            let (grpcStatus, message, open) = try await runBlocking { () -> (String?, String?, Int) in
                let (raw, ids) = try Self.begin(port: port, streams: 2, sent: 150_000)
                defer { raw.close() }
                // The streams' DATA interleave: either may be the one that crosses the limit.
                try raw.run { client in ids.contains { client.responses[$0]?.closed == true } }
                let refused = ids.compactMap { raw.responses[$0] }.first { $0.closed }
                let open = ids.filter { raw.responses[$0]?.closed != true }.count
                return (refused?.value("grpc-status"), refused?.value("grpc-message"), open)
            }
            #expect(grpcStatus == "8", "RESOURCE_EXHAUSTED")
            #expect(message?.contains("past the server's limit of 262144 per connection") == true, "\(message ?? "")")
            #expect(open == 1, "the stream within the limit goes on")
            // Other connections are served, and the closed connection's bytes left the loop's count.
            #expect(try await harness.client.unary(Echo.blob, Blob(count: 100_000)).bytes.count == 100_000)
            var held = await Self.loopInbound(harness.server)
            for _ in 0..<200 where held.contains(where: { $0 != 0 }) {
                try await Task.sleep(for: .milliseconds(10))
                held = await Self.loopInbound(harness.server)
            }
            #expect(held.allSatisfy { $0 == 0 }, "\(held)")
        }
    }

    /// A raw client handed from one blocking step to the next (only one uses it at a time).
    final class Held: @unchecked Sendable {
        let raw: RawHTTP2Client
        let ids: [Int32]
        init(_ raw: RawHTTP2Client, _ ids: [Int32]) { self.raw = raw; self.ids = ids }
    }

    @Test("past the loop's limit, a connection holding more than the share floor is refused; one under it is not")
    func perLoop() async throws {
        var configuration = HTTP2ServerTransport.Configuration()
        configuration.loopInboundLimit = 320_000
        configuration.inboundShareFloor = 100_000
        try await withHTTP2Server(threads: 1, server: configuration) { harness in
            let port = harness.server.localPort
            let small = try await runBlocking { () -> Held in
                let (raw, ids) = try Self.begin(port: port, streams: 1, sent: 60_000)
                try raw.run { _ in true }
                return Held(raw, ids)
            }
            defer { small.raw.close() }
            // The small connection's bytes are counted before the large one begins.
            // (Counted with its 5-byte prefix.)
            for _ in 0..<500 where await Self.loopInbound(harness.server) != [60_005] {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(await Self.loopInbound(harness.server) == [60_005])
            // 300,000 alone would pass; with the small one's 60,000 the loop is past its limit.
            let refusedMessage = try await runBlocking { () -> String? in
                let (large, ids) = try Self.begin(port: port, streams: 2, sent: 150_000)
                defer { large.close() }
                try large.run { client in ids.contains { client.responses[$0]?.closed == true } }
                return ids.compactMap { large.responses[$0] }.first { $0.closed }?.value("grpc-message")
            }
            #expect(refusedMessage?.contains("limit is 320000 per event loop") == true, "\(refusedMessage ?? "")")
            #expect(small.raw.responses[small.ids[0]] == nil, "the connection under the floor is not refused")
        }
    }
}
