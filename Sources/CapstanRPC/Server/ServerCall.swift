import Synchronization

/// The core's side of one server call: pending response headers and trailers, the single
/// `finish`, and whether the call was cancelled (by the peer or by its deadline).
final class ServerCall: Sendable {
    private struct State {
        var responseHeaders = Metadata()
        var headersSent = false
        var trailers = Metadata()
        /// The code the call ended with, once it ended.
        var endedWith: RPCCode?
    }

    private let writer: any ServerStreamWriter
    private let state = Mutex(State())
    private let cancelled = Atomic<Bool>(false)

    init(writer: any ServerStreamWriter) {
        self.writer = writer
    }

    var isCancelled: Bool { cancelled.load(ordering: .acquiring) }

    func markCancelled() {
        cancelled.store(true, ordering: .releasing)
    }

    func addResponseHeaders(_ headers: Metadata) throws(RPCError) {
        try state.withLock { (state) throws(RPCError) in
            guard !state.headersSent, state.endedWith == nil else {
                throw RPCError(code: .failedPrecondition, message: "response headers were already sent")
            }
            state.responseHeaders.merge(headers)
        }
    }

    func addTrailers(_ trailers: Metadata) {
        state.withLock { $0.trailers.merge(trailers) }
    }

    /// Sends one response message, preceded by the headers if they are still pending.
    func writeMessage(_ bytes: [UInt8]) async throws {
        let headers: Metadata? = try state.withLock { (state) throws(RPCError) -> Metadata? in
            if let code = state.endedWith {
                throw RPCError(
                    code: code == .ok ? .failedPrecondition : code,
                    message: "cannot write a response: the call already ended (\(code))"
                )
            }
            guard !state.headersSent else { return nil }
            state.headersSent = true
            return state.responseHeaders
        }
        if let headers { try await writer.writeHeaders(headers) }
        try await writer.writeMessage(bytes)
    }

    /// Ends the call with OK after its one response message: headers (if still pending), the
    /// message and the trailers go to the writer together. Throws as `writeMessage` does once
    /// the call ended.
    func finishUnary(_ bytes: [UInt8]) async throws {
        let (headers, trailers) = try endUnary()
        try await writer.finishUnary(headers: headers, message: bytes, trailers: trailers)
    }

    /// Marks the call ended with OK for `finishUnary`: the headers still to send (nil when sent)
    /// and the trailers; the caller hands them to the writer with the message.
    func endUnary() throws(RPCError) -> (headers: Metadata?, trailers: Metadata) {
        try state.withLock { (state) throws(RPCError) -> (Metadata?, Metadata) in
            if let code = state.endedWith {
                throw RPCError(
                    code: code == .ok ? .failedPrecondition : code,
                    message: "cannot write a response: the call already ended (\(code))"
                )
            }
            state.endedWith = .ok
            var headers: Metadata?
            if !state.headersSent {
                state.headersSent = true
                headers = state.responseHeaders
            }
            return (headers, state.trailers)
        }
    }

    /// Ends the call with OK (`error == nil`) or the error; only the first call has an effect.
    /// Headers never sent travel with the trailers (a trailers-only response).
    func finish(_ error: RPCError?) {
        let trailers: Metadata? = state.withLock { state in
            guard state.endedWith == nil else { return nil }
            state.endedWith = error?.code ?? .ok
            var trailers = Metadata()
            if !state.headersSent {
                state.headersSent = true
                trailers.merge(state.responseHeaders)
            }
            trailers.merge(state.trailers)
            if let error { trailers.merge(error.trailers) }
            return trailers
        }
        guard let trailers else { return }
        writer.finish(status: error?.status ?? .ok, details: error?.details, trailers: trailers)
    }
}
