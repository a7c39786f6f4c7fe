@testable import CapstanHTTP2
import CapstanRPC
import CapstanTestSupport
import Glibc
import Synchronization
import Testing

@Suite("HTTP/2 server: what a peer that never opens its window leaves behind", .timeLimit(.minutes(1)))
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
}
