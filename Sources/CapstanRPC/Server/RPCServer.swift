import Synchronization
/// Serves the streams of a `ServerTransport` with a router and interceptors.
///
/// Unary fast path: a unary method runs as one function of the request bytes (decode, handler,
/// encode); when the transport already holds the complete request (the client half-closed,
/// `ServerTransportStream.immediateRequests`) it is taken without suspending, and the response
/// goes out as headers, message and trailers in one writer call (`finishUnary`). The call runs
/// in the caller's task with no extra task, closure chain or task group, so on a transport that
/// starts handler tasks on its connection's loop a call that never suspends is decoded, handled
/// and answered on that thread. On a transport with `ServerCallControl` (HTTP/2) that holds with
/// a deadline too, and without a cancellation handler: the transport tells the call of a peer
/// reset and ends it at its deadline from its event loop's deadline queue; other transports
/// (in-process) get a task group with a timer task for calls with a deadline.
/// Before either, a transport that holds complete requests (`ImmediateCallTransport`) offers a
/// method's immediate handler the request on its own thread, with no task (`ImmediateMethod`).
/// Interceptors (closures around the handler) turn the fast path off; `CallObserver`s (metrics,
/// request logs) do not: they are called synchronously as the call starts and after it ended, on
/// every path, with the status the call's single `finish` recorded.
public struct RPCServer: Sendable {
    public let router: RPCRouter
    /// Applied to every routed call, outermost first.
    public let interceptors: [any ServerInterceptor]
    /// Told of every call, routed or not, outside the interceptors (so rejections are seen too).
    public var observers: [any CallObserver] { callObservers.all }

    private let callObservers: CallObservers
    /// The router's routes with what the observers prepared for each method, resolved once here
    /// so a call costs one lookup of its path (and observers none of their own).
    private let served: [String: ServedRoute]
    private let unrouted: CallObservers.Prepared

    /// One path's route. A routed method is one object, so looking a call's path up costs one
    /// retain rather than one per descriptor and handler closure.
    private enum ServedRoute: Sendable {
        case method(ServedMethod)
        /// A fixed answer (`RPCRouter.answer`), observed under its path's service and method.
        case fixed(RPCError, observed: CallObservers.Prepared)
    }

    private final class ServedMethod: Sendable {
        let descriptor: AnyMethodDescriptor
        let handler: RPCRouter.Handler
        let unary: RPCRouter.UnaryHandler?
        let observed: CallObservers.Prepared?
        /// Set for methods with an immediate handler when the server has no interceptors.
        let immediate: ImmediateMethod?

        init(
            descriptor: AnyMethodDescriptor, handler: @escaping RPCRouter.Handler, unary: RPCRouter.UnaryHandler?,
            observed: CallObservers.Prepared?, immediate: ImmediateMethod?
        ) {
            self.descriptor = descriptor
            self.handler = handler
            self.unary = unary
            self.observed = observed
            self.immediate = immediate
        }
    }

    public init(router: RPCRouter, interceptors: [any ServerInterceptor] = [], observers: [any CallObserver] = []) {
        self.router = router
        self.interceptors = interceptors
        let callObservers = CallObservers(observers)
        self.callObservers = callObservers
        unrouted = callObservers.prepare(CallObservation.unroutedMethod)
        served = Dictionary(uniqueKeysWithValues: router.allRoutes.map { [interceptors] path, route in
            switch route {
            case .method(let descriptor, let handler, let unary, let immediate):
                (path, Self.method(descriptor, handler, unary, immediate, interceptors: interceptors, observers: callObservers))
            case .fixed(let error):
                (path, .fixed(error, observed: callObservers.prepare(Self.fixedMethod(path: path))))
            }
        })
    }

    /// The method a fixed answer stands for, from its path (`/service/method`), for observers:
    /// a documented method that answers UNIMPLEMENTED counts under its own name.
    private static func fixedMethod(path: String) -> AnyMethodDescriptor {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count == 2 else { return CallObservation.unroutedMethod }
        return AnyMethodDescriptor(service: String(parts[0]), method: String(parts[1]), kind: .unary, requestType: "", responseType: "")
    }

    private static func method(
        _ descriptor: AnyMethodDescriptor, _ handler: @escaping RPCRouter.Handler, _ unary: RPCRouter.UnaryHandler?,
        _ immediate: RPCRouter.ImmediateHandler?, interceptors: [any ServerInterceptor], observers: CallObservers
    ) -> ServedRoute {
        let observed = observers.isEmpty ? nil : observers.prepare(descriptor)
        var immediateMethod: ImmediateMethod?
        if let immediate, interceptors.isEmpty {
            immediateMethod = ImmediateMethod(
                descriptor: descriptor, handler: immediate, observers: observers, observed: observed)
        }
        return .method(ServedMethod(
            descriptor: descriptor, handler: handler, unary: unary, observed: observed, immediate: immediateMethod))
    }

    /// Serves every stream `transport` accepts until it shuts down.
    public func serve(on transport: any ServerTransport) async throws {
        if let transport = transport as? any ImmediateCallTransport {
            try await transport.listen({ stream in await self.handle(stream) }, immediateMethods: immediateMethods)
            return
        }
        try await transport.listen { stream in
            await self.handle(stream)
        }
    }

    /// The methods with an immediate path, by path (see `ImmediateMethod`).
    package var immediateMethods: [String: ImmediateMethod] {
        served.compactMapValues { route in
            guard case .method(let served) = route else { return nil }
            return served.immediate
        }
    }

    /// Serves one stream to completion: routes it, runs interceptors and handler, enforces the
    /// deadline, and always ends the stream with a status. Cancelling the calling task (the
    /// peer reset the stream) cancels the handler.
    nonisolated(nonsending) public func handle(_ stream: ServerTransportStream) async {
        if let rejection = stream.rejection {
            observeRejected(stream, rejection)
            return
        }
        switch served[stream.path] {
        case nil:
            let error = router.unknownPathError(stream.path)
            answerUnrouted(stream, error)
        case .fixed(let error, let observed)?:
            answerUnrouted(stream, error, observedAs: observed)
        case .method(let served)?:
            let call = ServerCall(writer: stream.writer, deadline: stream.callDeadline)
            let context = ServerContext(
                method: served.descriptor,
                metadata: stream.metadata,
                deadline: stream.callDeadline,
                peer: stream.peer,
                call: call
            )
            let observed = served.observed.flatMap { callObservers.start($0) }
            if let control = stream.callControl {
                await handleControlled(
                    stream, control: control, call: call, context: context, handler: served.handler, unary: served.unary)
            } else if let unary = served.unary {
                await handleUnary(stream, call: call, context: context, unary: unary)
            } else {
                let (requests, handler) = (stream.requests, served.handler)
                let chain = intercepted { context in try await handler(requests, call, context) }
                await withTaskCancellationHandler {
                    await ServerCallRunner.run(call: call, deadline: stream.deadline) { try await chain(context) }
                } onCancel: {
                    call.markCancelled()
                }
            }
            if let observed { callObservers.finish(observed, path: stream.path, peer: stream.peer, call: call) }
        }
    }

    /// A call the transport answered itself with `status` (`ServerTransportStream.rejection`):
    /// observed under its method when its path names one, else under
    /// `CallObservation.unroutedMethod`, with the status the client got.
    private func observeRejected(_ stream: ServerTransportStream, _ status: RPCStatus) {
        let prepared: CallObservers.Prepared? =
            switch served[stream.path] {
            case .method(let method)?: method.observed
            case .fixed(_, let observed)?: observed
            case nil: unrouted
            }
        guard let prepared, let observed = callObservers.start(prepared) else { return }
        callObservers.finish(observed, path: stream.path, peer: stream.peer, status: status, received: 0, sent: 0)
    }

    /// Ends a call that has no handler with `error`, observed under `CallObservation.unroutedMethod`
    /// (or `prepared`, for a fixed answer).
    private func answerUnrouted(_ stream: ServerTransportStream, _ error: RPCError, observedAs prepared: CallObservers.Prepared? = nil) {
        let observed = callObservers.start(prepared ?? unrouted)
        stream.writer.finish(status: error.status, details: error.details, trailers: error.trailers)
        if let observed {
            callObservers.finish(observed, path: stream.path, peer: stream.peer, status: error.status, received: 0, sent: 0)
        }
    }

    /// A call on a transport that reports cancellation and enforces the deadline itself
    /// (`ServerCallControl`): the body runs inline in the caller's task, with no cancellation
    /// handler, task group or timer task; at the deadline the transport ends the call with
    /// `DEADLINE_EXCEEDED` and cancels this task. Unary calls without interceptors take the fast
    /// path, deadline or not.
    nonisolated(nonsending) private func handleControlled(
        _ stream: ServerTransportStream, control: any ServerCallControl, call: ServerCall, context: ServerContext,
        handler: @escaping RPCRouter.Handler, unary: RPCRouter.UnaryHandler?
    ) async {
        let path = stream.path
        if let deadline = stream.callDeadline, deadline.hasPassed {
            call.deadlinePassed()
            return
        }
        control.attach(call, deadline: stream.callDeadline)
        guard let unary else {
            let requests = stream.requests
            let chain = intercepted { context in try await handler(requests, call, context) }
            call.finish(await ServerCallRunner.outcome(of: { try await chain(context) }))
            return
        }
        if interceptors.isEmpty {
            do {
                let request: [UInt8]
                if let taken = try Self.immediateRequest(stream.immediateRequests, path: path) {
                    request = taken
                } else {
                    request = try await RPCRouter.singleRequestBytes(from: stream.requests, path: path, kind: .unary)
                }
                call.countReceived()
                call.answerUnary(try await unary(request, context), through: control)
            } catch {
                call.finish(RPCError(converting: error))
            }
            return
        }
        let body = interceptedUnary(stream, call: call, context: context, unary: unary)
        call.finish(await ServerCallRunner.outcome(of: body))
    }

    /// The unary fast path (see the type's notes). Kept flat — few async frames — because each
    /// frame boundary costs a task-executor check.
    @inline(__always)
    private func handleUnary(
        _ stream: ServerTransportStream, call: ServerCall, context: ServerContext, unary: @escaping RPCRouter.UnaryHandler
    ) async {
        let path = stream.path
        if stream.callDeadline == nil, interceptors.isEmpty {
            // Only what the call needs is captured (copying the whole stream costs retains).
            let immediate = stream.immediateRequests
            let requests = stream.requests
            let writer = stream.writer
            await withTaskCancellationHandler {
                do {
                    let request: [UInt8]
                    if let taken = try Self.immediateRequest(immediate, path: path) {
                        request = taken
                    } else {
                        request = try await RPCRouter.singleRequestBytes(from: requests, path: path, kind: .unary)
                    }
                    call.countReceived()
                    let response = try await unary(request, context)
                    let (headers, trailers) = try call.endUnary()
                    try await writer.finishUnary(headers: headers, message: response, trailers: trailers)
                } catch {
                    call.finish(RPCError(converting: error))
                }
            } onCancel: {
                call.markCancelled()
            }
            return
        }
        let body = interceptedUnary(stream, call: call, context: context, unary: unary)
        await withTaskCancellationHandler {
            await ServerCallRunner.run(call: call, deadline: stream.deadline, body: body)
        } onCancel: {
            call.markCancelled()
        }
    }

    /// A unary call through the interceptors. The response goes out only once every interceptor has
    /// returned, so an interceptor can still fail the call after the handler ran (the response is
    /// then never sent).
    private func interceptedUnary(
        _ stream: ServerTransportStream, call: ServerCall, context: ServerContext, unary: @escaping RPCRouter.UnaryHandler
    ) -> @Sendable () async throws -> Void {
        let path = stream.path
        let response = Mutex<[UInt8]?>(nil)
        let chain = intercepted { context in
            let request = try await Self.unaryRequest(stream, path: path)
            call.countReceived()
            let bytes = try await unary(request, context)
            response.withLock { $0 = bytes }
            call.countSent()
        }
        return {
            try await chain(context)
            guard let bytes = response.withLock({ $0.take() }) else {
                throw RPCError(code: .internal, message: "\(path): an interceptor returned without calling the handler")
            }
            try await call.finishUnary(bytes, counted: true)
        }
    }

    /// The one request of a unary call: taken at once when the transport holds it, else read.
    private static func unaryRequest(_ stream: ServerTransportStream, path: String) async throws -> [UInt8] {
        if let bytes = try immediateRequest(stream.immediateRequests, path: path) { return bytes }
        return try await RPCRouter.singleRequestBytes(from: stream.requests, path: path, kind: .unary)
    }

    /// The one request of a unary call if the transport already holds the complete request;
    /// `nil` when it must be read.
    @inline(__always)
    private static func immediateRequest(_ immediate: (any ImmediateRequestSource)?, path: String) throws -> [UInt8]? {
        guard let immediate else { return nil }
        switch try immediate.takeImmediately() {
        case .one(let bytes): return bytes
        case .none: throw RPCRouter.noRequestError(path: path, kind: .unary)
        case .several: throw RPCRouter.severalRequestsError(path: path, kind: .unary)
        case .pending: return nil
        }
    }

    private func intercepted(
        _ handler: @escaping @Sendable (ServerContext) async throws -> Void
    ) -> @Sendable (ServerContext) async throws -> Void {
        var next = handler
        for interceptor in interceptors.reversed() {
            let inner = next
            next = { context in try await interceptor.intercept(context, next: inner) }
        }
        return next
    }
}
