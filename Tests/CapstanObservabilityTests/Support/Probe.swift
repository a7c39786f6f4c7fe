import CapstanAPI
import CapstanRPC
import CapstanWire
import Synchronization
import Testing

/// The message both ways of every `Probe` method: a string in `service`.
typealias Note = Grpc_Health_V1_HealthCheckRequest

func note(_ text: String) -> Note {
    var note = Note()
    note.service = text
    return note
}

struct ProbeCrash: Error {}

/// A test service with one method of each kind; `Get`'s request text picks its behaviour.
enum Probe {
    static let service = "capstan.test.Probe"
    /// Opened by the one test that uses "stubborn".
    static let stubbornGate = Atomic<Bool>(false)
    /// Unary: echoes; "missing" fails NOT_FOUND, "crash" throws a plain error (UNKNOWN), "slow"
    /// sleeps 30 ms first, "hang" sleeps 10 s (for deadlines), "stubborn" waits, whether cancelled
    /// or not, until `stubbornGate` opens (at most 10 s) and then answers.
    static let get = MethodDescriptor<Note, Note>(service: service, method: "Get", kind: .unary)
    /// Server streaming: the request is a count n; answers "0" … "n-1". "quiet" answers "0", then
    /// waits up to 10 s and returns normally, also when cancelled.
    static let expand = MethodDescriptor<Note, Note>(service: service, method: "Expand", kind: .serverStreaming)
    /// Client streaming: answers the requests joined with ",".
    static let collect = MethodDescriptor<Note, Note>(service: service, method: "Collect", kind: .clientStreaming)
    /// Bidirectional: echoes each request.
    static let chat = MethodDescriptor<Note, Note>(service: service, method: "Chat", kind: .bidirectional)

    static func register(in router: inout RPCRouter) {
        router.unary(get) { request, _ in
            switch request.service {
            case "missing": throw RPCError(code: .notFound, message: "no such thing 'missing'")
            case "crash": throw ProbeCrash()
            case "slow": try await Task.sleep(for: .milliseconds(30))
            case "hang": try await Task.sleep(for: .seconds(10))
            case "stubborn":
                // Deaf to cancellation, as a store write is: it answers once the test opens the gate.
                await Task.detached {
                    for _ in 0..<2_000 where !Probe.stubbornGate.load(ordering: .acquiring) {
                        try? await Task.sleep(for: .milliseconds(5))
                    }
                }.value
            default: break
            }
            return request
        }
        router.serverStreaming(expand) { request, responses, _ in
            if request.service == "quiet" {
                // As a watch does: one message, then wait, and return quietly once cancelled.
                try await responses.write(note("0"))
                try? await Task.sleep(for: .seconds(10))
                return
            }
            for index in 0..<(Int(request.service) ?? 0) { try await responses.write(note("\(index)")) }
        }
        router.clientStreaming(collect) { requests, _ in
            var parts: [String] = []
            for try await request in requests { parts.append(request.service) }
            return note(parts.joined(separator: ","))
        }
        router.bidirectional(chat) { requests, responses, _ in
            for try await request in requests { try await responses.write(request) }
        }
    }
}

/// Runs `body` against an `RPCServer` (Probe and health) over a fresh in-process transport.
func withProbeServer<T: Sendable>(
    interceptors: [any ServerInterceptor] = [],
    observers: [any CallObserver] = [],
    _ body: @Sendable (RPCClient) async throws -> T
) async throws -> T {
    var router = RPCRouter()
    Probe.register(in: &router)
    HealthService().register(on: &router)
    let transport = InProcessTransport()
    let server = RPCServer(router: router, interceptors: interceptors, observers: observers)
    let client = RPCClient(transport: transport.client)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.serve(on: transport.server) }
        do {
            let result = try await body(client)
            transport.server.beginGracefulShutdown()
            try await group.waitForAll()
            return result
        } catch {
            transport.server.beginGracefulShutdown()
            group.cancelAll()
            throw error
        }
    }
}

/// The code of the `RPCError` `body` throws, or `nil` if it throws none.
func failureCode(_ body: () async throws -> Void) async -> RPCCode? {
    do {
        try await body()
        return nil
    } catch {
        return RPCError(converting: error).code
    }
}

/// Polls `condition` every 5 ms for at most `timeout`; returns whether it became true.
func eventually(timeout: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}

/// A server stream writer that keeps what the core sends.
/// A transport stream carrying one `Probe.get` request with `text`, its responses to `writer`:
/// what a server's `handle` takes, without a client.
func probeGetStream(_ text: String, deadline: ContinuousClock.Instant? = nil, writer: RecordingWriter) -> ServerTransportStream {
    let (requests, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
    continuation.yield(note(text).serializedBytes())
    continuation.finish()
    return ServerTransportStream(
        path: Probe.get.path, metadata: Metadata(), deadline: deadline, peer: "test", requests: requests, writer: writer)
}

final class RecordingWriter: ServerStreamWriter {
    private let sent = Mutex<(messages: Int, statuses: [RPCStatus])>((0, []))

    var statuses: [RPCStatus] { sent.withLock { $0.statuses } }
    var messages: Int { sent.withLock { $0.messages } }

    func writeHeaders(_ metadata: Metadata) async throws {}

    func writeMessage(_ bytes: [UInt8]) async throws {
        sent.withLock { $0.messages += 1 }
    }

    func finish(status: RPCStatus, details: [UInt8]?, trailers: Metadata) {
        sent.withLock { $0.statuses.append(status) }
    }
}

/// How a test installs metrics on a server: as an observer (the unary fast path stays on) or as
/// an interceptor (every call takes the general path).
enum MetricsInstallation: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case observer
    case interceptor

    var testDescription: String { rawValue }

    func interceptors(_ metrics: RPCMetrics) -> [any ServerInterceptor] {
        self == .interceptor ? [metrics.interceptor] : []
    }

    func observers(_ metrics: RPCMetrics) -> [any CallObserver] {
        self == .observer ? [metrics.observer] : []
    }

    func server(_ router: RPCRouter, _ metrics: RPCMetrics) -> RPCServer {
        RPCServer(router: router, interceptors: interceptors(metrics), observers: observers(metrics))
    }
}
