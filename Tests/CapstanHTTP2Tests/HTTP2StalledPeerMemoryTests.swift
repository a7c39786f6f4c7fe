@testable import CapstanHTTP2
import CapstanRPC
import CapstanTestSupport
import Glibc
import Synchronization
import Testing

/// Whether `HTTP2ServerTransport.streamObjects` counts (debug builds only).
private let countsStreams: Bool = {
    #if DEBUG
    true
    #else
    false
    #endif
}()

@Suite(
    "HTTP/2 server: what a peer that never opens its window leaves behind", .timeLimit(.minutes(1)),
    .enabled(if: countsStreams, "live streams are counted in debug builds only"))
struct HTTP2StalledPeerMemoryTests {
    @Test("answers queued for a peer whose window stays shut are freed with their streams when it closes the connection")
    func unsentAnswersGoWithTheConnection() async throws {
        try await withHTTP2Server { harness in
            let port = harness.server.localPort
            let answered = 4
            try await runBlocking {
                let raw = try RawHTTP2Client(port: port)
                defer { raw.close() }
                // The server may send nothing on any stream: each answer stays queued whole.
                try raw.startSession(initialWindowSize: 0)
                let body = [UInt8](repeating: 7, count: 256 * 1024)
                let ids = try (0..<answered).map { _ in
                    try raw.request(path: "/capstan.test.Echo/Blob", body: grpcPrefix(length: body.count) + body)
                }
                // Each answer's HEADERS (not flow-controlled) came: its message waits in the server.
                try raw.run { client in ids.allSatisfy { client.responses[$0]?.headers.isEmpty == false } }
            }
            // The client closed; the handler workers that served the calls are parked again. Nothing
            // may keep the streams (and the 1 MiB they queued) alive.
            let deadline = ContinuousClock.now + .seconds(10)
            while harness.server.streamObjects.load(ordering: .relaxed) > 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(harness.server.streamObjects.load(ordering: .relaxed) == 0)
            // The server still serves.
            #expect(try await harness.client.unary(Echo.get, "after").value == "echo: after")
        }
    }

    @Test("a stream whose client takes none of its response for the stall timeout is reset, and what it queued is freed while the connection stays")
    func stalledStreamsAreReset() async throws {
        var server = HTTP2ServerTransport.Configuration()
        server.sendStallTimeout = .milliseconds(300)
        try await withHTTP2Server(server: server) { harness in
            let port = harness.server.localPort
            let transport = harness.server
            try await runBlocking {
                let raw = try RawHTTP2Client(port: port)
                defer { raw.close() }
                try raw.startSession(initialWindowSize: 0)
                let body = [UInt8](repeating: 7, count: 128 * 1024)
                // Two unary answers queued whole, and a stream whose handler waits to write more.
                var ids = try (0..<2).map { _ in
                    try raw.request(path: "/capstan.test.Echo/Blob", body: grpcPrefix(length: body.count) + body)
                }
                let count = Array("50:65536".utf8)
                ids.append(try raw.request(path: "/capstan.test.Echo/Blobs", body: grpcPrefix(length: count.count) + count))
                try raw.run { client in ids.allSatisfy { client.responses[$0]?.closed == true } }
                // Each was reset with CANCEL, none got a byte of its messages.
                for id in ids {
                    #expect(raw.responses[id]?.resetCode == 8, "stream \(id): \(String(describing: raw.responses[id]?.resetCode))")
                    #expect(raw.responses[id]?.data.isEmpty == true)
                }
                #expect(!raw.goAwayReceived)
                // Freed while this client is still connected.
                for _ in 0..<500 where transport.streamObjects.load(ordering: .relaxed) > 0 { usleep(20_000) }
                #expect(transport.streamObjects.load(ordering: .relaxed) == 0)
            }
            #expect(try await harness.client.unary(Echo.get, "after").value == "echo: after")
        }
    }
}
