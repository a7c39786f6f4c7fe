@testable import CapstanHTTP2
import CapstanRPC
import CapstanTestSupport
import Synchronization
import Testing

/// Unary methods with an immediate handler: answered on the loop with no task once the client
/// half-closed, or handed to the general path (see `ImmediateMethod`).
@Suite("HTTP/2 immediate unary calls", .timeLimit(.minutes(1)))
struct HTTP2ImmediateCallTests {
    /// Immediate: "now: <text>" (ran without a task) or "task!" (ran in one); `nil` for "later…",
    /// NOT_FOUND for "missing". General: "later: <text>".
    static let lookup = MethodDescriptor<Text, Text>(service: "capstan.test.Immediate", method: "Lookup", kind: .unary)
    static let path = "/capstan.test.Immediate/Lookup"

    /// How often each handler ran.
    final class Counts: Sendable {
        let immediate = Atomic<Int>(0)
        let general = Atomic<Int>(0)
    }

    static func routes(_ counts: Counts) -> (inout RPCRouter) -> Void {
        { router in
            Echo.register(in: &router)
            router.unaryEncoded(
                lookup,
                immediately: { request, _ in
                    counts.immediate.add(1, ordering: .relaxed)
                    if request.value.hasPrefix("later") { return nil }
                    if request.value == "missing" { throw RPCError(code: .notFound, message: "no entry named missing") }
                    let inTask = withUnsafeCurrentTask { $0 != nil }
                    return EncodedMessage(Text(inTask ? "task!" : "now: \(request.value)"))
                },
                { request, _ in
                    counts.general.add(1, ordering: .relaxed)
                    return EncodedMessage(Text("later: \(request.value)"))
                })
        }
    }

    @Test("a call the immediate handler answers runs on the loop with no task; the general handler never runs")
    func answeredImmediately() async throws {
        let counts = Counts()
        try await withHTTP2Server(routes: Self.routes(counts)) { harness in
            for index in 0..<20 {
                let answer = try await harness.client.unary(Self.lookup, Text("k\(index)"))
                #expect(answer.value == "now: k\(index)")
            }
            #expect(counts.immediate.load(ordering: .relaxed) == 20)
            #expect(counts.general.load(ordering: .relaxed) == 0)
            // No handler task was ever needed for these calls.
            #expect(await harness.server.handlerTaskDiagnostics().idleTasks == 0)
        }
    }

    @Test("nil from the immediate handler hands the same request to the general handler")
    func fallsBack() async throws {
        let counts = Counts()
        try await withHTTP2Server(routes: Self.routes(counts)) { harness in
            let later = try await harness.client.unary(Self.lookup, "later-1")
            #expect(later.value == "later: later-1")
            let now = try await harness.client.unary(Self.lookup, "k")
            #expect(now.value == "now: k")
            #expect(counts.immediate.load(ordering: .relaxed) == 2)
            #expect(counts.general.load(ordering: .relaxed) == 1)
        }
    }

    @Test("a held call whose client never half-closes ends DEADLINE_EXCEEDED at its deadline")
    func heldPastItsDeadline() async throws {
        let counts = Counts()
        try await withHTTP2Server(routes: Self.routes(counts)) { harness in
            let port = harness.server.localPort
            let reply = try await runBlocking {
                let raw = try RawHTTP2Client(port: port)
                defer { raw.close() }
                try raw.startSession()
                let id = try raw.request(
                    path: Self.path, extraHeaders: [("grpc-timeout", "200m")], body: grpcPrefix(length: 3) + [0x0A, 0x01, 0x6B],
                    endStream: false)
                try raw.run { $0.responses[id]?.closed == true }
                guard let response = raw.responses[id] else { throw RawError("no response") }
                return HTTP2MalformedPeerTests.Reply(response)
            }
            #expect(reply.value("grpc-status") == String(RPCCode.deadlineExceeded.rawValue))
            #expect(counts.immediate.load(ordering: .relaxed) == 0)
            // The server goes on serving held calls.
            #expect(try await harness.client.unary(Self.lookup, Text("k")).value == "now: k")
        }
    }

    @Test("an immediate handler's error reaches the client with its code and message")
    func errors() async throws {
        try await withHTTP2Server(routes: Self.routes(Counts())) { harness in
            let error = await rpcError { _ = try await harness.client.unary(Self.lookup, "missing") }
            #expect(error?.code == .notFound)
            #expect(error?.message == "no entry named missing")
            let malformed = try await HTTP2MalformedPeerTests.send(
                port: harness.server.localPort, path: Self.path, body: grpcPrefix(length: 1) + [0xFF])
            #expect(malformed.value("grpc-status") == String(RPCCode.internal.rawValue))
        }
    }

    @Test("observers see immediate calls, answered or failed, with their status and counts")
    func observed() async throws {
        let recorder = FinishedCallRecorder()
        try await withHTTP2Server(observers: [recorder], routes: Self.routes(Counts())) { harness in
            _ = try await harness.client.unary(Self.lookup, "a")
            _ = await rpcError { _ = try await harness.client.unary(Self.lookup, "missing") }
            _ = try await harness.client.unary(Self.lookup, "later")
            let calls = await recorder.calls(count: 3)
            #expect(calls.map(\.status.code) == [.ok, .notFound, .ok])
            #expect(calls.map(\.messagesReceived) == [1, 1, 1])
            #expect(calls.map(\.messagesSent) == [1, 0, 1])
            #expect(calls.allSatisfy { $0.path == Self.path && $0.method.method == "Lookup" })
        }
    }

    @Test("with interceptors every call takes the general path")
    func interceptorsTurnItOff() async throws {
        let counts = Counts()
        try await withHTTP2Server(interceptors: [PassThrough()], routes: Self.routes(counts)) { harness in
            let answer = try await harness.client.unary(Self.lookup, "k")
            #expect(answer.value == "later: k")
            #expect(counts.immediate.load(ordering: .relaxed) == 0)
        }
    }

    @Test("a held call with two messages or none fails with INTERNAL, and one past its deadline gets DEADLINE_EXCEEDED")
    func badRequests() async throws {
        let counts = Counts()
        try await withHTTP2Server(routes: Self.routes(counts)) { harness in
            let port = harness.server.localPort
            let one = grpcPrefix(length: 1) + Array("x".utf8)
            let two = try await HTTP2MalformedPeerTests.send(port: port, path: Self.path, body: one + one)
            #expect(two.value("grpc-status") == String(RPCCode.internal.rawValue))
            #expect(two.value("grpc-message")?.contains("more than one request message") == true)
            let none = try await HTTP2MalformedPeerTests.send(port: port, path: Self.path, body: [])
            #expect(none.value("grpc-status") == String(RPCCode.internal.rawValue))
            let late = try await HTTP2MalformedPeerTests.send(
                port: port, path: Self.path, headers: [.init("grpc-timeout", "1n")], body: one)
            #expect(late.value("grpc-status") == String(RPCCode.deadlineExceeded.rawValue))
            #expect(counts.immediate.load(ordering: .relaxed) == 0)
            let answer = try await harness.client.unary(Self.lookup, "k")
            #expect(answer.value == "now: k")
        }
    }

    @Test("a held call whose client resets it before half-closing leaves no stream and no handler behind")
    func resetWhileHeld() async throws {
        let counts = Counts()
        try await withHTTP2Server(routes: Self.routes(counts)) { harness in
            let port = harness.server.localPort
            try await runBlocking {
                let raw = try RawHTTP2Client(port: port)
                defer { raw.close() }
                try raw.startSession()
                let body = grpcPrefix(length: 1) + Array("x".utf8)
                let id = try raw.request(path: Self.path, body: body, endStream: false)
                try raw.run { _ in true }
                try raw.reset(streamID: id)
                try raw.run { _ in true }
            }
            #expect(await eventually { harness.server.openConnections.isEmpty })
            #expect(harness.server.activeHandlerCount == 0)
            #expect(counts.immediate.load(ordering: .relaxed) + counts.general.load(ordering: .relaxed) == 0)
            let answer = try await harness.client.unary(Self.lookup, "k")
            #expect(answer.value == "now: k")
        }
    }
}

/// Records every finished call.
final class FinishedCallRecorder: CallObserver {
    private let finished = Mutex<[FinishedCall]>([])

    func callFinished(_ call: FinishedCall, token: CallObserverToken) {
        finished.withLock { $0.append(call) }
    }

    /// The first `count` finished calls, once there are that many.
    func calls(count: Int) async -> [FinishedCall] {
        _ = await eventually { self.finished.withLock { $0.count >= count } }
        return finished.withLock { Array($0.prefix(count)) }
    }
}

/// An interceptor that only calls on.
struct PassThrough: ServerInterceptor {
    func intercept(_ context: ServerContext, next: @Sendable (ServerContext) async throws -> Void) async throws {
        try await next(context)
    }
}
