/// Sees every call a server answers: once as it starts (before any interceptor) and once after it
/// ended, with the status the client got. Metrics and request logs are observers.
///
/// Observers cost the server no task, closure or async frame: both hooks are plain synchronous
/// calls on the thread that serves the call, on the unary fast path and the general path alike,
/// so keep them short and non-blocking. Calls without a route (`UNIMPLEMENTED`) and calls the
/// router answers itself (`RPCRouter.answer(path:with:)`) are observed too, under
/// `CallObservation.unroutedMethod`.
public protocol CallObserver: Sendable {
    /// A call to `method` starts. What it returns comes back to `callFinished` of the same call
    /// (e.g. the counters of the method, so the end needs no second lookup).
    func callStarted(method: AnyMethodDescriptor) -> CallObserverToken

    /// What this observer resolves once per method rather than per call (e.g. where the method's
    /// counters live); the server asks once per route when it is created and hands the result
    /// to every `callStarted(method:prepared:)` of that method. The default is `nil`.
    func prepare(method: AnyMethodDescriptor) -> CallObserverToken

    /// A call starts, with what `prepare(method:)` returned for its method. The default calls
    /// `callStarted(method:)`.
    func callStarted(method: AnyMethodDescriptor, prepared: CallObserverToken) -> CallObserverToken

    /// The call ended and its handler returned.
    func callFinished(_ call: FinishedCall, token: CallObserverToken)
}

extension CallObserver {
    public func callStarted(method: AnyMethodDescriptor) -> CallObserverToken { nil }

    public func prepare(method: AnyMethodDescriptor) -> CallObserverToken { nil }

    public func callStarted(method: AnyMethodDescriptor, prepared: CallObserverToken) -> CallObserverToken {
        callStarted(method: method)
    }
}

/// What an observer hands itself from `callStarted` to `callFinished`: an object or nothing.
public typealias CallObserverToken = (any AnyObject & Sendable)?

/// A call as it ended, for `CallObserver.callFinished`.
public struct FinishedCall: Sendable {
    /// The method called; `CallObservation.unroutedMethod` for a path without a handler.
    public let method: AnyMethodDescriptor
    /// The requested HTTP/2 `:path` (the method's path for routed calls).
    public let path: String
    /// Who called, as the transport describes it.
    public let peer: String
    /// The status the client got: `DEADLINE_EXCEEDED` when the deadline ended the call even if the
    /// handler then failed with `CANCELLED`, the converted error when the handler threw.
    public let status: RPCStatus
    /// Request messages handed to the handler.
    public let messagesReceived: Int
    /// Response messages written.
    public let messagesSent: Int
    /// From the call's start (before its interceptors) to its handler's return.
    public let latency: Duration

    public init(
        method: AnyMethodDescriptor, path: String, peer: String, status: RPCStatus,
        messagesReceived: Int, messagesSent: Int, latency: Duration
    ) {
        self.method = method
        self.path = path
        self.peer = peer
        self.status = status
        self.messagesReceived = messagesReceived
        self.messagesSent = messagesSent
        self.latency = latency
    }
}

/// Names shared by observers.
public enum CallObservation {
    /// The one method every call without a handler is counted under (`unknown`/`unknown`), so an
    /// observer's labels stay bounded whatever paths clients send.
    public static let unroutedMethod = AnyMethodDescriptor(
        service: "unknown", method: "unknown", kind: .unary, requestType: "", responseType: "")
}

/// A server's observers with the tokens of one call kept inline (no allocation for up to two).
struct CallObservers: Sendable {
    let all: [any CallObserver]

    init(_ observers: [any CallObserver]) {
        all = observers
    }

    var isEmpty: Bool { all.isEmpty }

    /// One call being observed.
    struct Running {
        let method: AnyMethodDescriptor
        let start: ContinuousClock.Instant
        var first: CallObserverToken = nil
        var second: CallObserverToken = nil
        var rest: [CallObserverToken] = []
    }

    /// What each observer prepared for one method, in observer order (see `CallObserver.prepare`).
    final class Prepared: Sendable {
        let method: AnyMethodDescriptor
        let tokens: [CallObserverToken]

        init(method: AnyMethodDescriptor, observers: [any CallObserver]) {
            self.method = method
            tokens = observers.map { $0.prepare(method: method) }
        }
    }

    func prepare(_ method: AnyMethodDescriptor) -> Prepared {
        Prepared(method: method, observers: all)
    }

    /// Tells every observer a call of `prepared.method` starts now; `nil` when there are none.
    @inline(__always)
    func start(_ prepared: Prepared) -> Running? {
        if all.isEmpty { return nil }
        return begin(prepared, at: .now)
    }

    /// `start` for a server that has observers, for a call that began at `start`.
    @inline(__always)
    func begin(_ prepared: Prepared, at start: ContinuousClock.Instant) -> Running {
        let method = prepared.method
        var running = Running(method: method, start: start)
        // Through the buffer: iterating the array would copy each observer out of it.
        all.withUnsafeBufferPointer { observers in
            for index in observers.indices {
                let token = observers[index].callStarted(method: method, prepared: prepared.tokens[index])
                switch index {
                case 0: running.first = token
                case 1: running.second = token
                default: running.rest.append(token)
                }
            }
        }
        return running
    }

    /// `finish` with what `call` recorded. Every path ends a call through its `ServerCall` before
    /// the observers hear of the end; the fallback status only guards against one that would not.
    @inline(__always)
    func finish(_ running: Running, path: String, peer: String, call: ServerCall) {
        let status = call.endedStatus ?? RPCStatus(code: .unknown, message: "the call ended without a status")
        finish(
            running, path: path, peer: peer, status: status, received: call.messagesReceived, sent: call.messagesSent)
    }

    @inline(__always)
    func finish(
        _ running: Running, path: String, peer: String, status: RPCStatus, received: Int, sent: Int
    ) {
        let call = FinishedCall(
            method: running.method, path: path, peer: peer, status: status,
            messagesReceived: received, messagesSent: sent, latency: running.start.duration(to: .now))
        all.withUnsafeBufferPointer { observers in
            for index in observers.indices {
                let token: CallObserverToken =
                    switch index {
                    case 0: running.first
                    case 1: running.second
                    default: running.rest[index - 2]
                    }
                observers[index].callFinished(call, token: token)
            }
        }
    }
}
