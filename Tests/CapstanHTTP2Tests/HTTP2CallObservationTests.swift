import CapstanAPI
@testable import CapstanHTTP2
import CapstanRPC
import CapstanTestSupport
import Glibc
import Logging
import Synchronization
import Testing

/// What observers (metrics, request logs) see of calls that end on the HTTP/2 transport rather
/// than in their handler: a peer that goes away, a request the transport rejects.
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

    /// Starts `raw`'s session and a watch with `headers`; returns its stream once its first
    /// message came.
    static func watchUntilFirstMessage(_ raw: RawHTTP2Client, headers: [(String, String)] = []) throws -> Int32 {
        try raw.startSession()
        let id = try raw.request(path: watchPath, extraHeaders: headers, body: grpcPrefix(length: 1) + Array("w".utf8))
        try raw.run { $0.responses[id]?.data.isEmpty == false }
        guard raw.responses[id]?.data.isEmpty == false else { throw RawError("no first watch message") }
        return id
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
                let id = try Self.watchUntilFirstMessage(raw)
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
            #expect(RequestLogInterceptor.level(for: call.status.code) == .debug, "the client's own choice")
        }
    }

    /// A gRPC client whose deadline passes cancels the stream (RST_STREAM CANCEL) a transit time
    /// before the server's own timer would fire; that cancel is the client's DEADLINE_EXCEEDED,
    /// and metrics and logs say so. A cancel well before the deadline stays CANCELLED.
    @Test("a stream reset at the call's deadline is observed as DEADLINE_EXCEEDED, one well before it as CANCELLED",
          arguments: [(timeout: "1S", resetAfter: 960, code: RPCCode.deadlineExceeded),
                      (timeout: "30S", resetAfter: 0, code: RPCCode.cancelled)])
    func resetAtTheDeadline(timeout: String, resetAfter milliseconds: Int, code: RPCCode) async throws {
        let recorder = FinishedCallRecorder()
        let metrics = RPCMetrics()
        try await withHTTP2Server(observers: [recorder, metrics.observer], routes: Self.routes) { harness in
            let port = harness.server.localPort
            try await runBlocking {
                let raw = try RawHTTP2Client(port: port)
                defer { raw.close() }
                let id = try Self.watchUntilFirstMessage(raw, headers: [("grpc-timeout", timeout)])
                // The server took the call before its first message came: its deadline is at most
                // the timeout from now, so the reset comes at most 40 ms before it. (On a loaded
                // machine the server's own timer may fire first: DEADLINE_EXCEEDED as well.)
                usleep(UInt32(milliseconds) * 1_000)
                try raw.reset(streamID: id)
                for _ in 0..<1_000 where metrics.methodMetrics().first(where: { $0.method == "Watch" })?.inFlight != 0 {
                    usleep(10_000)
                }
            }
            let call = try #require(await recorder.calls(count: 1).first)
            #expect(call.status.code == code, "\(call.status) after \(call.latency)")
            let watch = metrics.methodMetrics().first { $0.method == "Watch" }
            #expect(watch?.codes.map(\.code) == [code.description])
        }
    }

    /// A client that stops reading and whose deadline passes: the status waits behind the
    /// response queued before it, and the stream (with those bytes) was held until the stall
    /// check, a minute or more. It is now reset a second after the deadline.
    @Test("a call whose deadline passed while its client reads nothing is reset a second later")
    func deadlineWithAClientThatDoesNotRead() async throws {
        var server = HTTP2ServerTransport.Configuration.defaults
        server.sendStallTimeout = nil
        let recorder = FinishedCallRecorder()
        try await withHTTP2Server(server: server, observers: [recorder], routes: Self.routes) { harness in
            let port = harness.server.localPort
            let reset = try await runBlocking { () throws -> UInt32? in
                let raw = try RawHTTP2Client(port: port)
                defer { raw.close() }
                try raw.startSession(initialWindowSize: 0)
                let id = try raw.request(
                    path: Self.watchPath, extraHeaders: [("grpc-timeout", "300m")], body: grpcPrefix(length: 1) + Array("w".utf8))
                // Bounded by the raw client's receive timeout and by the test's time limit.
                try raw.run { $0.responses[id]?.resetCode != nil || $0.responses[id]?.closed == true }
                return raw.responses[id]?.resetCode
            }
            #expect(reset == 8, "RST_STREAM CANCEL")
            #expect(await recorder.calls(count: 1).first?.status.code == .deadlineExceeded)
        }
    }

    @Test("a call answered at once whose response its client does not take is reset a second after its deadline")
    func answeredCallBehindAClosedWindow() async throws {
        var server = HTTP2ServerTransport.Configuration.defaults
        server.sendStallTimeout = nil
        try await withHTTP2Server(server: server) { harness in
            let port = harness.server.localPort
            let reset = try await runBlocking { () throws -> UInt32? in
                let raw = try RawHTTP2Client(port: port)
                defer { raw.close() }
                try raw.startSession(initialWindowSize: 0)
                let id = try raw.request(
                    path: Echo.get.path, extraHeaders: [("grpc-timeout", "300m")], body: grpcPrefix(length: 1) + Array("g".utf8))
                // Bounded by the raw client's receive timeout and by the test's time limit.
                try raw.run { $0.responses[id]?.resetCode != nil || $0.responses[id]?.closed == true }
                return raw.responses[id]?.resetCode
            }
            #expect(reset == 8, "RST_STREAM CANCEL")
            #expect(try await harness.client.unary(Echo.get, "next").value == "echo: next")
        }
    }

    /// A request the transport rejects, to the immediate method (held until the client
    /// half-closes, so no handler runs) or to a plain unary one.
    enum Rejected: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case oversizedToImmediate
        case oversizedToUnary
        case badTimeoutToImmediate
        case badTimeoutToUnary
        case gzipToUnknownPath

        var testDescription: String { rawValue }

        var path: String {
            switch self {
            case .oversizedToImmediate, .badTimeoutToImmediate: HTTP2ImmediateCallTests.path
            case .oversizedToUnary, .badTimeoutToUnary: Echo.get.path
            case .gzipToUnknownPath: "/capstan.test.Nowhere/Get"
            }
        }

        var headers: [HTTP2MalformedPeerTests.Header] {
            switch self {
            case .badTimeoutToImmediate, .badTimeoutToUnary: [.init("grpc-timeout", "abc")]
            case .gzipToUnknownPath: [.init("grpc-encoding", "gzip")]
            case .oversizedToImmediate, .oversizedToUnary: []
            }
        }

        /// Declares 5 MiB (over the 4 MiB default) and sends one byte of it.
        var body: [UInt8] {
            switch self {
            case .oversizedToImmediate, .oversizedToUnary: grpcPrefix(length: 5 << 20) + [0x78]
            default: grpcPrefix(length: 1) + Array("x".utf8)
            }
        }

        var code: RPCCode {
            switch self {
            case .oversizedToImmediate, .oversizedToUnary: .resourceExhausted
            case .badTimeoutToImmediate, .badTimeoutToUnary: .internal
            case .gzipToUnknownPath: .unimplemented
            }
        }

        /// Where metrics count it.
        var counted: (service: String, method: String) {
            switch self {
            case .oversizedToImmediate, .badTimeoutToImmediate: ("capstan.test.Immediate", "Lookup")
            case .oversizedToUnary, .badTimeoutToUnary: (Echo.service, "Get")
            case .gzipToUnknownPath: ("unknown", "unknown")
            }
        }
    }

    @Test("requests the transport rejects (oversized message, malformed grpc-timeout, grpc-encoding) are counted under their method and logged",
          arguments: Rejected.allCases)
    func rejectedByTransport(rejected: Rejected) async throws {
        let metrics = RPCMetrics()
        let lines = LoggedLines()
        let log = RequestLogObserver(logger: lines.logger())
        let routes = HTTP2ImmediateCallTests.routes(HTTP2ImmediateCallTests.Counts())
        try await withHTTP2Server(observers: [metrics.observer, log], routes: routes) { harness in
            let reply = try await HTTP2MalformedPeerTests.send(
                port: harness.server.localPort, path: rejected.path, headers: rejected.headers, body: rejected.body)
            #expect(reply.value("grpc-status") == String(rejected.code.rawValue))
            // Observers hear of the call just after its status went out.
            #expect(await eventually { metrics.methodMetrics().contains { $0.calls == 1 && $0.inFlight == 0 } })
            let counted = metrics.methodMetrics()
            #expect(counted.map { "\($0.service)/\($0.method)" } == ["\(rejected.counted.service)/\(rejected.counted.method)"])
            #expect(counted.first?.codes.map(\.code) == [rejected.code.description])
            // The log observer runs after the metrics one: wait for it as well.
            #expect(await eventually { lines.all.count == 1 })
            let logged = lines.all
            #expect(logged.count == 1)
            #expect(logged.first?.metadata["rpc.method"] == .string(rejected.path))
            #expect(logged.first?.metadata["rpc.code"] == .string(rejected.code.description))
            #expect(logged.first?.level == RequestLogInterceptor.level(for: rejected.code))
        }
    }
}

/// Log records kept in memory.
final class LoggedLines: Sendable {
    struct Line: Sendable {
        var level: Logger.Level
        var metadata: Logger.Metadata
    }

    private let lines = Mutex<[Line]>([])

    var all: [Line] { lines.withLock { $0 } }

    func logger() -> Logger {
        var logger = Logger(label: "test") { _ in Handler(lines: self) }
        logger.logLevel = .debug
        return logger
    }

    private struct Handler: LogHandler {
        let lines: LoggedLines
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let line = Line(level: event.level, metadata: metadata.merging(event.metadata ?? [:]) { _, new in new })
            lines.lines.withLock { $0.append(line) }
        }
    }
}
