import Synchronization

/// The core's side of one client call: reads and records response parts, sends requests,
/// enforces the deadline, and resets the stream when cancelled or dropped unfinished.
final class ClientCall: Sendable {
    private struct State {
        var headers: Metadata?
        /// A message read early (while waiting for headers), handed out next.
        var pending: [UInt8]?
        /// Set once the call ended: its trailers, or its error.
        var outcome: Result<Metadata, RPCError>?
        /// Why the client gave up (cancellation, deadline), before any outcome.
        var localError: RPCError?
        var sendClosed = false
        var timer: Task<Void, Never>?
    }

    private enum Step {
        case headers
        case message([UInt8])
        case end
    }

    let path: String
    private let writer: any ClientStreamWriter
    private let reader: ClientResponseReader
    private let state = Mutex(State())

    init(path: String, stream: ClientTransportStream, deadline: ContinuousClock.Instant?) {
        self.path = path
        self.writer = stream.writer
        self.reader = ClientResponseReader(stream.responses)
        // A transport that enforces the deadline (on its own timers) spares a task per call.
        if let deadline, !stream.enforcesDeadline { startTimer(deadline) }
    }

    deinit {
        let (timer, finished) = state.withLock { ($0.timer, $0.outcome != nil) }
        timer?.cancel()
        if !finished { writer.cancel() }
    }

    private func startTimer(_ deadline: ContinuousClock.Instant) {
        let path = path
        let timer = Task { [weak self] in
            do {
                try await Task.sleep(until: deadline, clock: .continuous)
            } catch {
                return
            }
            self?.abort(RPCError(code: .deadlineExceeded, message: "the deadline passed before \(path) completed"))
        }
        state.withLock { $0.timer = timer }
    }

    // MARK: Ending

    /// Gives up on the call locally: later reads fail with `error` and the stream is reset.
    func abort(_ error: RPCError) {
        let reset = state.withLock { state in
            guard state.outcome == nil, state.localError == nil else { return false }
            state.localError = error
            return true
        }
        if reset { writer.cancel() }
    }

    func cancel() {
        abort(RPCError(code: .cancelled, message: "the client cancelled the call to \(path)"))
    }

    /// Records the outcome (first one wins) and stops the timer; returns the outcome in force.
    @discardableResult
    private func record(_ outcome: Result<Metadata, RPCError>) -> Result<Metadata, RPCError> {
        let (current, timer) = state.withLock { state in
            if state.outcome == nil { state.outcome = outcome }
            defer { state.timer = nil }
            return (state.outcome ?? outcome, state.timer)
        }
        timer?.cancel()
        return current
    }

    /// Records a failure (a local reason wins) and, unless the server already ended the stream,
    /// resets it.
    private func fail(_ error: RPCError, resetStream: Bool = true) -> RPCError {
        let local = state.withLock { $0.localError }
        if resetStream { writer.cancel() }
        guard case .failure(let recorded) = record(.failure(local ?? error)) else { return local ?? error }
        return recorded
    }

    // MARK: Reading

    /// Reads one part from the transport and records what it means.
    private func advance() async throws(RPCError) -> Step {
        if let local = state.withLock({ $0.outcome == nil ? $0.localError : nil }) {
            throw fail(local)
        }
        let part: ClientResponsePart?
        do {
            part = try await withTaskCancellationHandler {
                try await reader.next()
            } onCancel: {
                self.cancel()
            }
        } catch is ClientResponseReader.Busy {
            throw RPCError(code: .failedPrecondition, message: "the responses of \(path) are being read by two tasks at once")
        } catch {
            throw fail(RPCError(converting: error))
        }
        switch part {
        case nil:
            throw fail(RPCError(code: .internal, message: "the response stream of \(path) ended without a status"))
        case .headers(let headers)?:
            state.withLock { if $0.headers == nil { $0.headers = headers } }
            return .headers
        case .message(let bytes)?:
            state.withLock { if $0.headers == nil { $0.headers = Metadata() } }
            return .message(bytes)
        case .status(let status, let details, let trailers)?:
            if status.code == .ok {
                record(.success(trailers))
                return .end
            }
            let local = state.withLock { $0.localError }
            let error = local ?? RPCError(code: status.code, message: status.message, details: details, trailers: trailers)
            throw fail(error, resetStream: false)
        }
    }

    /// The next response message; `nil` once the call ended with OK. Throws the call's error.
    func nextMessage() async throws(RPCError) -> [UInt8]? {
        if let pending = state.withLock({ state in defer { state.pending = nil }; return state.pending }) {
            return pending
        }
        while true {
            switch state.withLock({ $0.outcome }) {
            case .success?: return nil
            case .failure(let error)?: throw error
            case nil: break
            }
            switch try await advance() {
            case .headers: continue
            case .message(let bytes): return bytes
            case .end: return nil
            }
        }
    }

    /// The response headers, waiting for them if needed (empty for a trailers-only OK).
    func responseHeaders() async throws(RPCError) -> Metadata {
        while true {
            let known: Result<Metadata, RPCError>? = state.withLock { state in
                if let headers = state.headers { return .success(headers) }
                switch state.outcome {
                case .success?: return .success(Metadata())
                case .failure(let error)?: return .failure(error)
                case nil: return nil
                }
            }
            if let known { return try known.get() }
            if case .message(let bytes) = try await advance() {
                state.withLock { $0.pending = bytes }
            }
        }
    }

    /// Trailing metadata once the call ended (an error's trailers if it failed), else `nil`.
    var trailers: Metadata? {
        switch state.withLock({ $0.outcome }) {
        case .success(let trailers)?: trailers
        case .failure(let error)?: error.trailers
        case nil: nil
        }
    }

    // MARK: Sending

    /// Sends one request message. After the server ended the call, messages are dropped and the
    /// outcome is reported on the response side (or thrown here if it is already known).
    func send(_ bytes: [UInt8]) async throws(RPCError) {
        let refusal: RPCError? = state.withLock { state in
            if state.sendClosed {
                return RPCError(code: .failedPrecondition, message: "cannot send to \(path): the request stream is closed")
            }
            if case .failure(let error)? = state.outcome { return error }
            return state.localError
        }
        if let refusal { throw refusal }
        do {
            try await withTaskCancellationHandler {
                try await writer.writeMessage(bytes)
            } onCancel: {
                self.cancel()
            }
        } catch {
            if let local = state.withLock({ $0.localError }) { throw local }
        }
    }

    /// Half-closes the request stream.
    func closeSend() {
        let first = state.withLock { state in
            defer { state.sendClosed = true }
            return !state.sendClosed
        }
        if first { writer.closeSend() }
    }
}
