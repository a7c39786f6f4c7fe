@testable import CapstanHTTP2
import CapstanRPC
import Synchronization
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
            for _ in 0..<1_000 where held.contains(where: { $0 != 0 }) {
                try await Task.sleep(for: .milliseconds(10))
                held = await Self.loopInbound(harness.server)
            }
            #expect(held.allSatisfy { $0 == 0 }, "\(held)")
        }
    }

    @Test("whole messages of held unary calls, sent without the end of the request, count too")
    func heldMessages() async throws {
        var configuration = HTTP2ServerTransport.Configuration()
        configuration.connectionInboundLimit = 256 * 1024
        let counts = HTTP2ImmediateCallTests.Counts()
        try await withHTTP2Server(server: configuration, routes: HTTP2ImmediateCallTests.routes(counts)) { harness in
            let port = harness.server.localPort
            let (grpcStatus, open) = try await runBlocking { () -> (String?, Int) in
                let raw = try RawHTTP2Client(port: port)
                defer { raw.close() }
                try raw.startSession()
                // A Text message of 100,000 bytes: field 1, length 100,000 as a varint (3 bytes).
                let text = [0x0A, 0xA0, 0x8D, 0x06] + [UInt8](repeating: 0x61, count: 100_000)
                // One after the other, so at most one message is ever unfinished (under the limit).
                let ids = try (0..<3).map { _ in
                    let id = try raw.request(path: HTTP2ImmediateCallTests.path, body: grpcPrefix(length: text.count) + text, endStream: false)
                    try raw.run { $0.unsentBytes == 0 || $0.responses[id]?.closed == true }
                    return id
                }
                try raw.run { client in ids.contains { client.responses[$0]?.closed == true } }
                let refused = ids.compactMap { raw.responses[$0] }.first { $0.closed }
                return (refused?.value("grpc-status"), ids.filter { raw.responses[$0]?.closed != true }.count)
            }
            #expect(grpcStatus == "8", "RESOURCE_EXHAUSTED")
            #expect(open == 2)
            #expect(counts.immediate.load(ordering: .relaxed) == 0, "no held call was answered")
        }
    }

    @Test("a call whose client sends nothing more of a message it began fails RESOURCE_EXHAUSTED at the stall timeout")
    func stalledRequest() async throws {
        var configuration = HTTP2ServerTransport.Configuration()
        configuration.sendStallTimeout = .milliseconds(400)
        try await withHTTP2Server(server: configuration) { harness in
            let port = harness.server.localPort
            let (grpcStatus, message) = try await runBlocking { () -> (String?, String?) in
                let (raw, ids) = try Self.begin(port: port, streams: 1, sent: 1_000)
                defer { raw.close() }
                try raw.run { $0.responses[ids[0]]?.closed == true }
                return (raw.responses[ids[0]]?.value("grpc-status"), raw.responses[ids[0]]?.value("grpc-message"))
            }
            #expect(grpcStatus == "8", "RESOURCE_EXHAUSTED")
            #expect(message?.contains("sent nothing more of its request") == true, "\(message ?? "")")
            #expect(await Self.loopInbound(harness.server).allSatisfy { $0 == 0 })
        }
    }

    /// A raw client handed from one blocking step to the next (only one uses it at a time).
    final class Held: @unchecked Sendable {
        let raw: RawHTTP2Client
        let ids: [Int32]
        init(_ raw: RawHTTP2Client, _ ids: [Int32]) { self.raw = raw; self.ids = ids }
    }

    @Test("past the loop's limit, a connection holding the share floor or more is refused; one under it is not")
    func perLoop() async throws {
        var configuration = HTTP2ServerTransport.Configuration()
        configuration.loopInboundLimit = 320_000
        configuration.inboundShareFloor = 100_000
        try await withHTTP2Server(threads: 1, server: configuration) { harness in
            let port = harness.server.localPort
            // 300,010 bytes (two messages begun, with their prefixes): within the loop's limit.
            let large = try await runBlocking { () -> Held in
                let (raw, ids) = try Self.begin(port: port, streams: 2, sent: 150_000)
                try raw.run { $0.unsentBytes == 0 }
                return Held(raw, ids)
            }
            defer { large.raw.close() }
            for _ in 0..<1_000 where await Self.loopInbound(harness.server) != [300_010] {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(await Self.loopInbound(harness.server) == [300_010])
            // A small connection takes the loop past its limit, holding less than the floor: served.
            let small = try await runBlocking { () -> Held in
                let (raw, ids) = try Self.begin(port: port, streams: 1, sent: 60_000)
                try raw.run { $0.unsentBytes == 0 }
                return Held(raw, ids)
            }
            defer { small.raw.close() }
            for _ in 0..<1_000 where await Self.loopInbound(harness.server) != [360_015] {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(await Self.loopInbound(harness.server) == [360_015], "the small connection's bytes were taken")
            // The large one begins another message: refused, as it holds more than the floor.
            let refusedMessage = try await runBlocking { () -> String? in
                let id = try large.raw.request(path: Self.blobPath, body: grpcPrefix(length: 200_000) + [1, 2, 3], endStream: false)
                try large.raw.run { $0.responses[id]?.closed == true }
                return large.raw.responses[id]?.value("grpc-message")
            }
            #expect(refusedMessage?.contains("limit is 320000 per event loop") == true, "\(refusedMessage ?? "")")
            #expect(small.raw.isClosedNow() == false)
            #expect(small.raw.responses[small.ids[0]] == nil, "the small connection's call was not answered")
        }
    }
}
