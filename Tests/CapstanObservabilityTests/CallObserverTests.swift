import CapstanAPI
import CapstanRPC
import CapstanWire
import Logging
import Synchronization
import Testing

/// Keeps every call it is told about; each start hands out a fresh token, which must come back.
final class RecordingObserver: CallObserver {
    final class Token: Sendable {
        let method: AnyMethodDescriptor
        init(method: AnyMethodDescriptor) { self.method = method }
    }

    private let state = Mutex<(started: Int, finished: [FinishedCall], tokensMatched: Bool)>((0, [], true))

    var started: Int { state.withLock { $0.started } }
    var finished: [FinishedCall] { state.withLock { $0.finished } }
    /// Whether every `callFinished` got the token its `callStarted` returned, for the same method.
    var tokensMatched: Bool { state.withLock { $0.tokensMatched } }

    func callStarted(method: AnyMethodDescriptor) -> CallObserverToken {
        state.withLock { $0.started += 1 }
        return Token(method: method)
    }

    func callFinished(_ call: FinishedCall, token: CallObserverToken) {
        let matched = (token as? Token)?.method == call.method
        state.withLock { state in
            state.finished.append(call)
            state.tokensMatched = state.tokensMatched && matched
        }
    }
}

/// Lets every call through (a server with an interceptor takes the general path).
struct PassThrough: ServerInterceptor {
    func intercept(_ context: ServerContext, next: @Sendable (ServerContext) async throws -> Void) async throws {
        try await next(context)
    }
}

/// Rejects every `Get` call before its handler runs.
struct DenyGet: ServerInterceptor {
    func intercept(_ context: ServerContext, next: @Sendable (ServerContext) async throws -> Void) async throws {
        if context.method.method == "Get" { throw RPCError(code: .permissionDenied, message: "no Get for you") }
        try await next(context)
    }
}

@Suite("Call observers on the unary fast path and the general path", .timeLimit(.minutes(1)))
struct CallObserverTests {
    @Test("fast-path unary calls are observed with their exact status, messages and latency")
    func fastPathOutcomes() async throws {
        let observer = RecordingObserver()
        try await withProbeServer(observers: [observer]) { client in
            _ = try await client.unary(Probe.get, note("hello"), options: .default)
            #expect(await failureCode { _ = try await client.unary(Probe.get, note("missing"), options: .default) } == .notFound)
            #expect(await failureCode { _ = try await client.unary(Probe.get, note("crash"), options: .default) } == .unknown)
            _ = try await client.unary(Probe.get, note("slow"), options: .default)
            let expand = try await client.serverStreaming(Probe.expand, note("3"), options: .default)
            for try await _ in expand {}
        }
        let calls = observer.finished
        #expect(observer.started == 5)
        #expect(observer.tokensMatched)
        #expect(calls.map(\.status.code) == [.ok, .notFound, .unknown, .ok, .ok])
        #expect(calls.map(\.path) == [
            Probe.get.path, Probe.get.path, Probe.get.path, Probe.get.path, Probe.expand.path,
        ])
        #expect(calls.map(\.method.path) == calls.map(\.path))
        #expect(calls[1].status.message == "no such thing 'missing'")
        #expect(calls[2].status.message.contains("ProbeCrash"))
        // A failed unary call answers trailers-only: the request was read, nothing was sent.
        #expect(calls.map(\.messagesReceived) == [1, 1, 1, 1, 1])
        #expect(calls.map(\.messagesSent) == [1, 0, 0, 1, 3])
        #expect(calls[3].latency >= .milliseconds(30))
        #expect(calls.allSatisfy { !$0.peer.isEmpty && $0.latency >= .zero })
    }

    @Test("a deadline that ends a fast-path method's call is observed as DEADLINE_EXCEEDED", arguments: [
        MetricsInstallation.observer, .interceptor,
    ])
    func deadline(installation: MetricsInstallation) async throws {
        let observer = RecordingObserver()
        let metrics = RPCMetrics()
        var router = RPCRouter()
        Probe.register(in: &router)
        let server = RPCServer(
            router: router, interceptors: installation.interceptors(metrics),
            observers: [observer] + installation.observers(metrics))
        let writer = RecordingWriter()
        let started = ContinuousClock.now
        await server.handle(probeGetStream("hang", deadline: .now + .milliseconds(200), writer: writer))
        #expect(writer.statuses.map(\.code) == [.deadlineExceeded])
        let call = try #require(observer.finished.first)
        #expect(observer.finished.count == 1)
        #expect(call.status.code == .deadlineExceeded, "the handler then fails CANCELLED; the client got DEADLINE_EXCEEDED")
        #expect(call.latency >= .milliseconds(200) && call.latency <= started.duration(to: .now))
        #expect(call.messagesSent == 0)
        let get = metrics.methodMetrics().first { $0.method == "Get" }
        #expect(get?.codes.map(\.code) == ["DEADLINE_EXCEEDED"])
        #expect(get?.inFlight == 0)
    }

    @Test("a call the peer cancels (no deadline: the fast path) is observed as CANCELLED")
    func peerCancelled() async throws {
        let observer = RecordingObserver()
        let metrics = RPCMetrics()
        var router = RPCRouter()
        Probe.register(in: &router)
        let server = RPCServer(router: router, observers: [metrics.observer, observer])
        let writer = RecordingWriter()
        let stream = probeGetStream("hang", writer: writer)
        let serving = Task { await server.handle(stream) }
        #expect(await eventually { observer.started == 1 })
        #expect(metrics.methodMetrics().first?.inFlight == 1)
        serving.cancel()
        await serving.value
        #expect(observer.finished.map(\.status.code) == [.cancelled])
        #expect(writer.statuses.map(\.code) == [.cancelled])
        #expect(metrics.methodMetrics().first?.codes.map(\.code) == ["CANCELLED"])
        #expect(metrics.methodMetrics().first?.inFlight == 0)
    }

    @Test(
        "a unary call whose handler answers after the peer cancelled is observed as CANCELLED, not OK (with and without interceptors)",
        .serialized, arguments: [false, true])
    func answerAfterPeerCancelled(intercepted: Bool) async throws {
        Probe.stubbornGate.store(false, ordering: .releasing)
        let observer = RecordingObserver()
        let metrics = RPCMetrics()
        var router = RPCRouter()
        Probe.register(in: &router)
        let server = RPCServer(router: router, interceptors: intercepted ? [PassThrough()] : [], observers: [metrics.observer, observer])
        let writer = RecordingWriter()
        let stream = probeGetStream("stubborn", writer: writer)
        let serving = Task { await server.handle(stream) }
        #expect(await eventually { observer.started == 1 })
        serving.cancel()
        // The handler answers only now, after the cancel.
        Probe.stubbornGate.store(true, ordering: .releasing)
        await serving.value
        #expect(observer.finished.map(\.status.code) == [.cancelled])
        #expect(observer.finished.map(\.messagesSent) == [0])
        #expect(metrics.methodMetrics().first?.codes.map(\.code) == ["CANCELLED"])
    }

    @Test("calls without a route count as unknown/unknown UNIMPLEMENTED and are logged with their path")
    func unrouted() async throws {
        let metrics = RPCMetrics()
        let records = CapturedRecords()
        let nowhere = MethodDescriptor<Note, Note>(service: "capstan.test.Nowhere", method: "Get", kind: .unary)
        let missing = MethodDescriptor<Note, Note>(service: Probe.service, method: "Missing", kind: .unary)
        try await withProbeServer(
            observers: [metrics.observer, RequestLogObserver(logger: records.logger(level: .debug))]
        ) { client in
            #expect(await failureCode { _ = try await client.unary(nowhere, note("x"), options: .default) } == .unimplemented)
            #expect(await failureCode { _ = try await client.unary(missing, note("x"), options: .default) } == .unimplemented)
            _ = try await client.unary(Probe.get, note("hello"), options: .default)
        }
        let all = metrics.methodMetrics()
        #expect(all.map { "\($0.service)/\($0.method)" } == ["capstan.test.Probe/Get", "unknown/unknown"])
        let unknown = try #require(all.last)
        #expect(unknown.codes.map(\.code) == ["UNIMPLEMENTED"])
        #expect(unknown.calls == 2)
        #expect(unknown.inFlight == 0)
        #expect(unknown.messagesReceived == 0)
        #expect(metrics.prometheusText().contains(#"service="unknown",method="unknown",code="UNIMPLEMENTED"} 2"#))
        let logged = records.all.map { record -> String in
            guard case .string(let path)? = record.metadata["rpc.method"] else { return "" }
            return path
        }
        #expect(logged == [nowhere.path, missing.path, Probe.get.path])
        #expect(records.all.map(\.level) == [.warning, .warning, .debug])
    }

    @Test("observers see calls an interceptor rejects (the general path), before any message")
    func rejectedByInterceptor() async throws {
        let metrics = RPCMetrics()
        let observer = RecordingObserver()
        try await withProbeServer(interceptors: [DenyGet()], observers: [metrics.observer, observer]) { client in
            #expect(await failureCode { _ = try await client.unary(Probe.get, note("x"), options: .default) } == .permissionDenied)
            let expand = try await client.serverStreaming(Probe.expand, note("2"), options: .default)
            for try await _ in expand {}
        }
        #expect(observer.finished.map(\.status) == [
            RPCStatus(code: .permissionDenied, message: "no Get for you"), .ok,
        ])
        #expect(observer.finished.map(\.messagesReceived) == [0, 1])
        #expect(observer.finished.map(\.messagesSent) == [0, 2])
        #expect(observer.tokensMatched)
        let get = metrics.methodMetrics().first { $0.method == "Get" }
        #expect(get?.codes.map(\.code) == ["PERMISSION_DENIED"])
    }

    @Test("three observers each get their own token back")
    func manyObservers() async throws {
        let observers = [RecordingObserver(), RecordingObserver(), RecordingObserver()]
        try await withProbeServer(observers: observers) { client in
            for _ in 0..<2 { _ = try await client.unary(Probe.get, note("hello"), options: .default) }
        }
        for observer in observers {
            #expect(observer.started == 2)
            #expect(observer.finished.map(\.status.code) == [.ok, .ok])
            #expect(observer.tokensMatched)
        }
    }
}
