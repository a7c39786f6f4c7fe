import Synchronization

/// The core's side of one server call: pending response headers and trailers, the single
/// `finish`, whether the call was cancelled (by the peer or by its deadline), and how many
/// messages went each way (for logs and metrics).
final class ServerCall: Sendable {
    private struct State {
        var responseHeaders = Metadata()
        var headersSent = false
        var trailers = Metadata()
        /// The status the call ended with, once it ended.
        var endedWith: RPCStatus?
    }

    private let writer: any ServerStreamWriter
    /// The call's deadline, if the client set one.
    private let deadline: CallDeadline?
    private let state = Mutex(State())
    private let cancelled = Atomic<Bool>(false)
    private let received = Atomic<Int>(0)
    private let sent = Atomic<Int>(0)

    init(writer: any ServerStreamWriter, deadline: CallDeadline? = nil) {
        self.writer = writer
        self.deadline = deadline
    }

    var isCancelled: Bool { cancelled.load(ordering: .acquiring) }

    func markCancelled() {
        cancelled.store(true, ordering: .releasing)
    }

    /// Request messages handed to the handler so far.
    var messagesReceived: Int { received.load(ordering: .relaxed) }
    /// Response messages written so far.
    var messagesSent: Int { sent.load(ordering: .relaxed) }

    /// Counts one response message as sent before it is written: a unary response produced inside
    /// the interceptors goes out only after they return, but they should see it counted.
    func countSent() {
        sent.add(1, ordering: .relaxed)
    }

    /// Counts one request message handed to the handler.
    func countReceived() {
        received.add(1, ordering: .relaxed)
    }

    /// The status the call ended with, or `nil` while it runs.
    var endedStatus: RPCStatus? {
        state.withLock { $0.endedWith }
    }

    /// How a call the peer cancelled ends when its handler returns normally.
    static let cancelledByPeer = RPCError(code: .cancelled, message: "the client cancelled the call")

    /// How a call ends that the server's shutdown cut off (see `connectionShutDown`).
    static let serverShutDown = RPCError(code: .unavailable, message: "the server shut down before the call completed")

    /// How a call ends that the peer cancelled at its deadline (see `peerCancelled`).
    static let peerDeadlinePassed = RPCError(code: .deadlineExceeded, message: "the client's deadline passed")

    /// How close to the call's deadline a cancel from the peer counts as the deadline passing.
    /// The client's timer runs from before its request was sent and the server's from when it
    /// arrived; the client's reset then takes a transit to arrive, so it lands about at the
    /// server's deadline, earlier by the client's delay between reading its clock and sending
    /// the request and by this server's delay in reading it.
    static let deadlineCancelSlack = Duration.milliseconds(50)

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

    /// Sends the response headers now if they are still pending (see `ResponseStream.sendHeaders`).
    func sendHeaders() async throws {
        if let headers = try takeHeadersForWrite() { try await writer.writeHeaders(headers) }
    }

    /// Sends one response message, preceded by the headers if they are still pending.
    func writeMessage(_ bytes: [UInt8]) async throws {
        if let headers = try takeHeadersForWrite() { try await writer.writeHeaders(headers) }
        try await writer.writeMessage(bytes)
        sent.add(1, ordering: .relaxed)
    }

    /// Sends response messages in order in one hand-over to the writer, preceded by the headers
    /// if they are still pending.
    func writeMessages(_ messages: [[UInt8]]) async throws {
        guard !messages.isEmpty else { return }
        if let headers = try takeHeadersForWrite() { try await writer.writeHeaders(headers) }
        try await writer.writeMessages(messages)
        sent.add(messages.count, ordering: .relaxed)
    }

    /// The headers still to send before a message (nil when sent); throws once the call ended.
    private func takeHeadersForWrite() throws(RPCError) -> Metadata? {
        try state.withLock { (state) throws(RPCError) -> Metadata? in
            if let code = state.endedWith?.code {
                throw RPCError(
                    code: code == .ok ? .failedPrecondition : code,
                    message: "cannot write a response: the call already ended (\(code))"
                )
            }
            guard !state.headersSent else { return nil }
            state.headersSent = true
            return state.responseHeaders
        }
    }

    /// Ends the call with OK after its one response message: headers (if still pending), the
    /// message and the trailers go to the writer together. Throws as `writeMessage` does once
    /// the call ended. `counted`: the response was already counted as sent (`countSent`).
    func finishUnary(_ bytes: [UInt8], counted: Bool = false) async throws {
        let (headers, trailers) = try endUnary(counting: !counted)
        try await writer.finishUnary(headers: headers, message: bytes, trailers: trailers)
    }

    /// Marks the call ended with OK for `finishUnary`: the headers still to send (nil when sent)
    /// and the trailers; the caller hands them to the writer with the message. Counts the
    /// response as sent unless `counting` is false. A call the peer cancelled meanwhile (a
    /// handler that did not heed the cancellation, such as a store write) ends CANCELLED instead
    /// and throws: its answer can reach nobody, and logs and metrics must not count an OK.
    func endUnary(counting: Bool = true) throws(RPCError) -> (headers: Metadata?, trailers: Metadata) {
        // Unless the call already ended (a deadline that passed says so itself).
        if isCancelled, state.withLock({ $0.endedWith == nil }) {
            // A response counted ahead (by the interceptors' path) was not sent after all.
            if !counting { sent.subtract(1, ordering: .relaxed) }
            finish(Self.cancelledByPeer)
            throw Self.cancelledByPeer
        }
        let ended = try state.withLock { (state) throws(RPCError) -> (Metadata?, Metadata) in
            if let code = state.endedWith?.code {
                // A response counted ahead was not sent after all.
                if !counting { sent.subtract(1, ordering: .relaxed) }
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
        if counting { sent.add(1, ordering: .relaxed) }
        return ended
    }

    /// Ends the call with OK after its one response, handed to `control` with the headers and
    /// trailers in one go; if that fails, the call ends with the failure instead.
    func answerUnary(_ response: [UInt8], through control: some ServerCallControl) {
        let headers: Metadata?
        let trailers: Metadata
        do {
            (headers, trailers) = try endUnary()
        } catch {
            finish(RPCError(converting: error))
            return
        }
        do {
            try control.sendUnary(headers: headers, message: response, trailers: trailers)
        } catch {
            // The transport answered the failure itself (see `responseRefused`).
            responseRefused(RPCError(converting: error).status)
        }
    }

    /// Ends the call with OK (`error == nil`) or the error; only the first call has an effect.
    /// Headers never sent travel with the trailers (a trailers-only response). An OK end after
    /// the peer cancelled (a watch ends quietly then) is `CANCELLED`: the client never got an OK,
    /// and logs and metrics must not count one.
    func finish(_ error: RPCError?) {
        let error = error ?? (isCancelled ? Self.cancelledByPeer : nil)
        let trailers: Metadata? = state.withLock { state in
            guard state.endedWith == nil else { return nil }
            state.endedWith = error?.status ?? .ok
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

extension ServerCall: ServerCallTarget {
    /// Records `CANCELLED` unless the call already ended (a status the server sent first stays):
    /// the handler's later failure (a write to the gone stream fails `UNAVAILABLE`) is no status
    /// the client got. Nothing is written: the stream is gone. A cancel that comes within
    /// `deadlineCancelSlack` of the call's deadline, or after it, is the client's deadline
    /// passing (a gRPC client cancels the stream then) and is recorded as `DEADLINE_EXCEEDED`,
    /// the status that client reports.
    func peerCancelled(at: ContinuousClock.Instant) {
        markCancelled()
        let status: RPCStatus
        if let deadline, deadline.instant.duration(to: at) >= .zero - Self.deadlineCancelSlack {
            status = Self.peerDeadlinePassed.status
        } else {
            status = Self.cancelledByPeer.status
        }
        state.withLock { state in
            if state.endedWith == nil { state.endedWith = status }
        }
    }

    /// Records `UNAVAILABLE` unless the call already ended: the server closed the connection
    /// (its shutdown grace period ran out), and that is what the client got, not a cancel of its
    /// own (the handler then sees its task cancelled).
    func connectionShutDown() {
        markCancelled()
        state.withLock { state in
            if state.endedWith == nil { state.endedWith = Self.serverShutDown.status }
        }
    }

    /// Records `status` unless the call already ended; nothing is written (the transport sent it).
    func transportEnded(_ status: RPCStatus) {
        markCancelled()
        state.withLock { state in
            if state.endedWith == nil { state.endedWith = status }
        }
    }

    /// Records `status` in place of an OK whose response the transport did not queue (or unless
    /// the call already ended otherwise); the response no longer counts as sent.
    func responseRefused(_ status: RPCStatus) {
        markCancelled()
        let replacedOK = state.withLock { state in
            switch state.endedWith?.code {
            case nil:
                state.endedWith = status
                return false
            case .ok?:
                state.endedWith = status
                return true
            default:
                return false
            }
        }
        if replacedOK { sent.subtract(1, ordering: .relaxed) }
    }

    /// Ends the call with `DEADLINE_EXCEEDED` (unless it already ended) and marks it cancelled.
    func deadlinePassed() {
        markCancelled()
        finish(RPCError(code: .deadlineExceeded, message: "the deadline passed before the call completed"))
    }
}
