/// Unary calls answered on the transport's thread, with no task: the immediate path.
///
/// A method registered with an immediate handler (`RPCRouter.unaryEncoded(_:immediately:_:)`)
/// can often answer without waiting (a Get served from memory). A transport that supports it
/// (`ImmediateCallTransport`) looks the path's `ImmediateMethod` up in
/// `RPCServer.immediateMethods` as the request headers arrive, holds the call's start until the
/// client half-closes, and then offers the one request to `answer` on its own thread. The
/// immediate handler either answers (or fails the call) there and then, or returns `nil` before
/// any effect: the transport then starts the call's task as for any other method, and the
/// method's general handler serves it from the request's bytes (decoding them a second time).
///
/// The call gets what every call gets: observers see its start and end, its status and counts
/// are kept by a `ServerCall`, and errors convert as in the general path. Observers are told of
/// the start only once the handler answered (with the time from before it ran), so a call that
/// goes on to the general path is observed once, there. Methods with interceptors never take
/// this path (an interceptor may suspend), nor do calls whose deadline already passed (the
/// general path answers those with `DEADLINE_EXCEEDED`).
package final class ImmediateMethod: Sendable {
    let descriptor: AnyMethodDescriptor
    let handler: RPCRouter.ImmediateHandler
    let observers: CallObservers
    let observed: CallObservers.Prepared?

    init(
        descriptor: AnyMethodDescriptor, handler: @escaping RPCRouter.ImmediateHandler, observers: CallObservers,
        observed: CallObservers.Prepared?
    ) {
        self.descriptor = descriptor
        self.handler = handler
        self.observers = observers
        self.observed = observed
    }

    /// Answers the call with `request` (the client's one message) through `writer`; `false`
    /// when the method needs the general path (nothing was written then).
    package func answer(
        path: String, metadata: Metadata, deadline: CallDeadline?, peer: String, request: [UInt8],
        writer: any ServerStreamWriter & ServerCallControl
    ) -> Bool {
        if let deadline, deadline.hasPassed { return false }
        let start = ContinuousClock.now
        let call = ServerCall(writer: writer)
        let context = ServerContext(method: descriptor, metadata: metadata, deadline: deadline, peer: peer, call: call)
        call.countReceived()
        let outcome: Result<[UInt8], RPCError>
        do {
            guard let answered = try handler(request, context) else { return false }
            outcome = .success(answered)
        } catch {
            outcome = .failure(RPCError(converting: error))
        }
        // Observers only when there are any: an optional record would be copied out to use it.
        guard let observed else {
            Self.end(call, with: outcome, through: writer)
            return true
        }
        let running = observers.begin(observed, at: start)
        Self.end(call, with: outcome, through: writer)
        observers.finish(running, path: path, peer: peer, call: call)
        return true
    }

    private static func end(
        _ call: ServerCall, with outcome: Result<[UInt8], RPCError>, through writer: some ServerCallControl
    ) {
        switch outcome {
        case .success(let response): call.answerUnary(response, through: writer)
        case .failure(let failure): call.finish(failure)
        }
    }
}

/// A `ServerTransport` that offers complete unary requests to the core's immediate path.
package protocol ImmediateCallTransport: ServerTransport {
    /// As `listen(_:)`; for each stream whose path has an entry in `immediateMethods`, the
    /// transport first offers the complete request to that method's `answer`.
    func listen(_ handler: @escaping ServerStreamHandler, immediateMethods: [String: ImmediateMethod]) async throws
}
