internal import CapstanRPC
import Synchronization

/// One outbound call's HTTP/2 stream on a client connection: the request queue (sent by the
/// data provider), the response parts for the caller, the deframer for response DATA.
///
/// Created on any thread and attached to its connection on the loop (`attach`). Writes that
/// happen before the stream is attached simply queue. Safety of `@unchecked Sendable`: every
/// `var` is touched on the connection's loop thread only (the writer hops there unless it is
/// already on it); `inbox` is thread-safe; `unsentBytes` and `ended` are atomics.
final class ClientStream: StreamOutbound, InboxOwner, DeadlineEntry, @unchecked Sendable {
    let connection: ClientConnection
    let loop: EventLoop
    let requestHeaders: [HeaderField]
    private(set) var inbox: StreamInbox!
    /// The request queue (this stream itself).
    var outbound: StreamOutbound { self }
    var deframer: GRPCDeframer

    /// HTTP/2 stream id once submitted.
    var id: Int32 = 0
    var attached = false
    /// nghttp2 wrote the request HEADERS out (until then they wait in its queue, e.g. behind the
    /// server's stream limit, and the server cannot have seen the call).
    var headersSent = false
    var responseHeaders: [HeaderField] = []
    /// The first (non-informational) response header block arrived.
    var sawResponseHeaders = false
    var collectingTrailers = false
    var uncredited = 0
    /// A status was delivered to the caller (or the caller cancelled): the stream is over for it.
    var statusDelivered = false
    var closed = false

    /// Set once the stream can take no more requests.
    let ended = Atomic<Bool>(false)
    /// The call's method path (for the deadline's message) and deadline, enforced on the loop
    /// from `attach` on (`startDeadline`).
    let path: String
    let deadline: ContinuousClock.Instant?
    /// The stream's slot in its loop's `DeadlineQueue` (-1: no deadline armed).
    var deadlineSlot = -1

    init(
        connection: ClientConnection, requestHeaders: [HeaderField], configuration: HTTP2ClientTransport.Configuration,
        path: String = "", deadline: ContinuousClock.Instant? = nil
    ) {
        self.connection = connection
        loop = connection.loop
        self.requestHeaders = requestHeaders
        self.path = path
        self.deadline = deadline
        deframer = GRPCDeframer(maxMessageSize: configuration.maxReceiveMessageSize)
        super.init(highWater: configuration.outboundBufferSize)
        inbox = StreamInbox(highWater: configuration.inboundBufferSize, owner: self)
    }

    func inboxMadeRoom() {
        let stream = self
        loop.execute { stream.connection.returnCredit(stream) }
    }

    // MARK: Requests (loop thread)

    static let endedError = RPCError(code: .unavailable, message: "the call already ended")
    static let cancelledError = RPCError(code: .cancelled, message: "the call was cancelled")

    /// Queues one request message (`counted`: already in `outbound.unsentBytes`); returns
    /// whether the writer should wait for room.
    func enqueue(_ message: [UInt8], counted: Bool = false) throws(RPCError) -> Bool {
        assert(loop.inEventLoop)
        guard !statusDelivered, !closed, outbound.end == nil else {
            if counted { outbound.unsentBytes.subtract(message.count + GRPCFraming.prefixLength, ordering: .relaxed) }
            throw Self.endedError
        }
        outbound.appendMessage(message, counted: counted)
        resumeProvider()
        return outbound.isOverHighWater
    }

    func closeSend() {
        assert(loop.inEventLoop)
        guard outbound.end == nil else { return }
        outbound.setEnd(.endStream)
        ended.store(true, ordering: .relaxed)
        resumeProvider()
    }

    /// Arms the deadline (loop thread, once the stream is attached): when it passes first, the
    /// stream is reset and the call ends with DEADLINE_EXCEEDED, as the RPC core's own timer
    /// would end it. The loop's `DeadlineQueue` holds the stream until the call ends (then it
    /// leaves the queue at once, so finished calls hold nothing until their deadline).
    func startDeadline() {
        assert(loop.inEventLoop)
        guard let deadline, !statusDelivered else { return }
        loop.armDeadline(self, at: deadline)
    }

    private func disarmDeadline() {
        if deadlineSlot >= 0 { loop.disarmDeadline(self) }
    }

    func deadlinePassed() {
        guard !statusDelivered else { return }
        let status = RPCStatus(code: .deadlineExceeded, message: "the deadline passed before \(path) completed")
        ended.store(true, ordering: .relaxed)
        outbound.fail(RPCError(code: status.code, message: status.message))
        outbound.clear()
        let reset = attached && !closed && id > 0
        deliverStatus(status)
        if reset {
            connection.session?.submitReset(streamID: id, errorCode: Nghttp2ErrorCode.cancel)
            connection.scheduleFlush()
        }
    }

    /// The caller gave up: reset the stream (CANCEL) and fail its reads.
    func cancel() {
        assert(loop.inEventLoop)
        disarmDeadline()
        ended.store(true, ordering: .relaxed)
        outbound.fail(Self.cancelledError)
        outbound.clear()
        inbox.fail(Self.cancelledError)
        guard !statusDelivered else { return }
        statusDelivered = true
        if attached, !closed, id > 0 {
            connection.session?.submitReset(streamID: id, errorCode: Nghttp2ErrorCode.cancel)
            connection.scheduleFlush()
        }
    }

    func resumeProvider() {
        guard attached else { return }
        if outbound.deferred {
            outbound.deferred = false
            connection.session?.resumeData(streamID: id)
        }
        connection.scheduleFlush()
    }

    // MARK: Responses (loop thread)

    /// Delivers the final status and ends the response parts; later ones are dropped.
    func deliverStatus(_ status: RPCStatus, details: [UInt8]? = nil, trailers: Metadata = Metadata()) {
        guard !statusDelivered else { return }
        statusDelivered = true
        disarmDeadline()
        ended.store(true, ordering: .relaxed)
        push(.status(status, details: details, trailers: trailers), bytes: 0)
        inbox.finish()
        outbound.fail(Self.endedError)
    }

    func deliver(_ part: ClientResponsePart) {
        if case .status(let status, let details, let trailers) = part {
            deliverStatus(status, details: details, trailers: trailers)
        } else if !statusDelivered {
            push(part, bytes: 0)
        }
    }

    /// Buffers a response part; a parked reader is resumed at the end of the loop tick, with
    /// whatever else arrived for it by then (one task wake per tick, not per part).
    func push(_ part: ClientResponsePart, bytes: Int) {
        assert(loop.inEventLoop)
        if inbox.pushDeferringWake(part, bytes: bytes) { connection.scheduleWake(inbox) }
    }
}

/// The request half of a `ClientStream`, as the RPC core sees it.
struct ClientWriter: ClientStreamWriter {
    let stream: ClientStream

    func writeMessage(_ bytes: [UInt8]) async throws {
        let stream = stream
        if stream.loop.inEventLoop {
            guard try stream.enqueue(bytes) else { return }
            try Task.checkCancellation()
        } else {
            if stream.ended.load(ordering: .relaxed) { throw ClientStream.endedError }
            // While everything unsent stays below the mark, hand the message over without
            // waiting for the loop; past it, wait on the loop until the queue drained.
            let size = bytes.count + GRPCFraming.prefixLength
            let unsent = stream.outbound.unsentBytes.add(size, ordering: .relaxed).newValue
            if unsent <= stream.outbound.highWater {
                stream.loop.execute { _ = try? stream.enqueue(bytes, counted: true) }
                return
            }
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    stream.loop.execute {
                        do {
                            _ = try stream.enqueue(bytes, counted: true)
                            stream.outbound.park(continuation)
                        } catch {
                            continuation.resume(throwing: error)
                        }
                    }
                }
            } onCancel: {
                stream.loop.execute { stream.outbound.cancelParked() }
            }
            return
        }
        // The queue is over its mark: wait until it drained. (The wait may start off the loop
        // when this task's executor is not the loop; parking always happens on it.)
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                if stream.loop.inEventLoop {
                    stream.outbound.park(continuation)
                } else {
                    stream.loop.execute { stream.outbound.park(continuation) }
                }
            }
        } onCancel: {
            stream.loop.execute { stream.outbound.cancelParked() }
        }
    }

    func closeSend() {
        let stream = stream
        if stream.loop.inEventLoop { stream.closeSend() } else { stream.loop.execute { stream.closeSend() } }
    }

    func cancel() {
        let stream = stream
        // Reads fail at once, whichever thread asks; the reset goes out from the loop.
        stream.ended.store(true, ordering: .relaxed)
        stream.inbox.fail(ClientStream.cancelledError)
        if stream.loop.inEventLoop { stream.cancel() } else { stream.loop.execute { stream.cancel() } }
    }
}
