import CapstanAPI
@testable import CapstanHTTP2
import CapstanRPC
import CapstanTestSupport
import Glibc
import Testing

/// What observers (metrics, request logs) see of calls that end on the HTTP/2 transport rather
/// than in their handler: a peer that goes away.
@Suite("HTTP/2 calls as observers see them", .timeLimit(.minutes(1)))
struct HTTP2CallObservationTests {
    /// Server streaming, as a watch: one message, then one every 10 ms, deaf to cancellation
    /// (for at most 10 s), until a write fails; that failure is what the handler throws.
    static let watch = MethodDescriptor<Text, Text>(service: "capstan.test.Observed", method: "Watch", kind: .serverStreaming)
    static let watchPath = "/capstan.test.Observed/Watch"

    static func routes(_ router: inout RPCRouter) {
        Echo.register(in: &router)
        router.serverStreaming(watch) { _, responses, _ in
            try await responses.write("0")
            for index in 1..<1_000 {
                try? await Task.sleep(for: .milliseconds(10))
                try await responses.write(Text("\(index)"))
            }
        }
    }

    /// How the client leaves a watch it has heard from.
    enum Departure: String, CaseIterable, Sendable, CustomTestStringConvertible {
        /// RST_STREAM CANCEL.
        case resetStream
        /// The TCP connection reset (SO_LINGER 0, then close).
        case resetConnection
        /// The TCP connection closed (FIN) without a word.
        case closeConnection

        var testDescription: String { rawValue }
    }

    @Test("a watch the client leaves (stream reset, connection reset or closed) is observed and counted CANCELLED, not UNAVAILABLE",
          arguments: Departure.allCases)
    func clientLeaves(departure: Departure) async throws {
        let recorder = FinishedCallRecorder()
        let metrics = RPCMetrics()
        try await withHTTP2Server(observers: [recorder, metrics.observer], routes: Self.routes) { harness in
            let port = harness.server.localPort
            try await runBlocking {
                let raw = try RawHTTP2Client(port: port)
                defer { raw.close() }
                try raw.startSession()
                let id = try raw.request(path: Self.watchPath, body: grpcPrefix(length: 1) + Array("w".utf8))
                try raw.run { $0.responses[id]?.data.isEmpty == false }
                guard raw.responses[id]?.data.isEmpty == false else { throw RawError("no first watch message") }
                switch departure {
                case .resetStream:
                    try raw.reset(streamID: id)
                    // Keep the connection until the call ended (at most 10 s).
                    for _ in 0..<1_000 where metrics.methodMetrics().first?.inFlight != 0 { usleep(10_000) }
                case .resetConnection:
                    var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                    setsockopt(raw.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                case .closeConnection:
                    break
                }
            }
            let calls = await recorder.calls(count: 1)
            let call = try #require(calls.first)
            #expect(call.path == Self.watchPath)
            #expect(call.status.code == .cancelled, "\(call.status)")
            #expect(call.messagesSent >= 1)
            #expect(await eventually { metrics.methodMetrics().first { $0.method == "Watch" }?.inFlight == 0 })
            let counted = metrics.methodMetrics().first { $0.method == "Watch" }
            #expect(counted?.codes.map(\.code) == ["CANCELLED"])
            #expect(RequestLogInterceptor.level(for: call.status.code) == .info)
        }
    }
}
