@testable import CapstanHTTP2
import CapstanRPC
import CapstanTestSupport
import Glibc
import Synchronization
import Testing

@Suite("HTTP/2 server: calls the client resets before their handler runs", .timeLimit(.minutes(1)))
struct HTTP2ResetBeforeRunTests {
    static let counted = MethodDescriptor<Text, Text>(service: "capstan.test.Reset", method: "Counted", kind: .serverStreaming)

    /// One frame: length, type, flags, stream id, payload.
    static func frame(_ type: UInt8, flags: UInt8, stream: Int32, _ payload: [UInt8]) -> [UInt8] {
        let length = payload.count
        return [UInt8(truncatingIfNeeded: length >> 16), UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length),
                type, flags] + withUnsafeBytes(of: stream.bigEndian, Array.init) + payload
    }

    /// A header block of literal fields (no indexing, no Huffman; every length under 127).
    static func literalHeaders(_ fields: [(String, String)]) -> [UInt8] {
        var block: [UInt8] = []
        for (name, value) in fields {
            block.append(0)
            block.append(UInt8(name.utf8.count))
            block.append(contentsOf: name.utf8)
            block.append(UInt8(value.utf8.count))
            block.append(contentsOf: value.utf8)
        }
        return block
    }

    /// (A unary call is answered as its request ends, before a reset in the same read is seen:
    /// its work is bounded by the method's own limits, such as a List's page size.)
    @Test("a client that sends a streaming request and resets it at once gets no work done: the handlers of 50 such calls never run")
    func resetRequestsDoNoWork() async throws {
        let runs = Atomic<Int>(0)
        try await withHTTP2Server(routes: { router in
            router.serverStreaming(Self.counted) { _, responses, _ in
                runs.add(1, ordering: .relaxed)
                try await responses.write(Text("ran"))
            }
        }) { harness in
            let port = harness.server.localPort
            try await runBlocking {
                let raw = try RawHTTP2Client(port: port)
                defer { raw.close() }
                var bytes = RawHTTP2Client.preface + Self.frame(4, flags: 0, stream: 0, [])
                let request = grpcPrefix(length: 2) + Array("go".utf8)
                for index in 0..<50 {
                    let id = Int32(1 + 2 * index)
                    let path = Self.counted.path
                    let headers = Self.literalHeaders([
                        (":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost"),
                        ("content-type", "application/grpc"), ("te", "trailers"),
                    ])
                    // HEADERS (END_HEADERS), DATA (END_STREAM), RST_STREAM (CANCEL), all in one write.
                    bytes += Self.frame(1, flags: 0x4, stream: id, headers) + Self.frame(0, flags: 0x1, stream: id, request)
                        + Self.frame(3, flags: 0, stream: id, [0, 0, 0, 8])
                }
                try raw.sendRaw(bytes)
                // The server acknowledges the SETTINGS and answers a PING after it read all of it.
                try raw.sendRaw(Self.frame(6, flags: 0, stream: 0, [1, 2, 3, 4, 5, 6, 7, 8]))
                usleep(300_000)
            }
            // A call that is not reset runs, once: the count is that one.
            var received: [String] = []
            for try await reply in try await harness.client.serverStreaming(Self.counted, Text("go")) { received.append(reply.value) }
            #expect(received == ["ran"])
            #expect(runs.load(ordering: .relaxed) == 1, "handlers of reset calls ran")
        }
    }
}
