internal import CapstanRPC
import Synchronization

/// One inbound HTTP/2 stream on a server connection: its request headers, the deframer feeding
/// the handler's request messages, the outbound queue for the response, and the handler's task.
///
/// Safety of `@unchecked Sendable`: every `var` is read and written on the connection's loop
/// thread only; the writer (`ServerWriter`) checks `loop.inEventLoop` and otherwise hops there
/// with `loop.execute`. `inbox` is itself thread-safe, and `inboxMadeRoom` only hops to the loop.
final class ServerStream: StreamOutbound, InboxOwner, DeadlineEntry, @unchecked Sendable {
    let id: Int32
    let connection: ServerConnection
    let loop: EventLoop

    /// Loop thread only (see `ServerConnection.streams` on `@exclusivity(unchecked)`).
    @exclusivity(unchecked) var deframer: GRPCDeframer
    private(set) var inbox: StreamInbox!
    /// The response queue (this stream itself).
    var outbound: StreamOutbound { self }

    /// Received DATA bytes whose stream-level window was not yet returned.
    var uncredited = 0
    /// The request bytes the transport holds for this stream (an unfinished message in the
    /// deframer, and a held call's message until the client half-closes), as the connection's
    /// `inboundLedger` counts them.
    var inboundCounted = 0
    /// The size of a held call's message (counted while the call is held).
    var heldBytes = 0
    /// DATA bytes received, and their count at the connection's last stall check with request
    /// bytes held, and how many checks in a row found no more (see `ServerConnection`).
    var receivedBytes = 0
    var inboundMark = 0
    var inboundStalledChecks = 0
    /// Request messages are accepted (a handler runs and the client has not half-closed).
    var accepting = false
    /// Response HEADERS were submitted.
    var responseStarted = false
    /// A response message was queued before (see `writeMayPassLimits`).
    private var wroteBefore = false
    /// The response end (status or rejection) was decided; later writes and finishes are ignored.
    var finished = false
    /// nghttp2 closed the stream.
    var closed = false
    var task: Task<Void, Never>?
    /// A call for the core's immediate path, held (no task started) until the client half-closes.
    struct Held {
        let head: GRPCRequestHead
        let deadline: CallDeadline?
        let method: ImmediateMethod
    }
    var held: Held?
    /// The held call's request message arrived.
    var heldMessage = false
    /// The RPC core's call, told of peer cancellation and of the deadline (see `attach`). Held
    /// until the stream closes (the call holds the writer, which holds the stream: the cycle
    /// breaks there).
    private var callTarget: (any ServerCallTarget)?
    /// How the call was cancelled before the core attached (told to it as it attaches).
    private var cancelledEarly: Cancellation?
    private enum Cancellation {
        /// The peer reset the stream or closed its connection, at that instant.
        case peer(ContinuousClock.Instant)
        /// This server closed the connection (shutting down).
        case shutDown
        /// The transport ended the call with this status (`abort`).
        case aborted(RPCStatus)
    }
    /// The stream's slot in its loop's `DeadlineQueue` (-1: no deadline armed).
    var deadlineSlot = -1
    /// `outbound.handedOver` at the connection's last stall check, and how many checks in a row
    /// found response bytes queued and none of them taken since (see `ServerConnection`).
    var stallMark = -1
    var stalledChecks = 0

    init(id: Int32, connection: ServerConnection, maxMessageSize: Int, inboundHighWater: Int, outboundHighWater: Int) {
        self.id = id
        self.connection = connection
        loop = connection.loop
        deframer = GRPCDeframer(maxMessageSize: maxMessageSize)
        super.init(highWater: outboundHighWater)
        inbox = StreamInbox(highWater: inboundHighWater, owner: self)
        #if DEBUG
        connection.transport.streamObjects.add(1, ordering: .relaxed)
        #endif
    }

    #if DEBUG
    deinit {
        connection.transport.streamObjects.subtract(1, ordering: .relaxed)
    }
    #endif

    func inboxMadeRoom() {
        let connection = connection
        let id = id
        loop.execute { connection.returnCredit(streamID: id) }
    }

    // MARK: Response (loop thread)

    /// The response HEADERS of a call without response metadata (the common case), built once.
    private static let plainResponseHeaders = PreparedHeaders(GRPCResponseHeaders.headers(metadata: Metadata()))
    /// The trailers of an OK call without trailing metadata, built once.
    private static let okTrailers = PreparedHeaders(GRPCResponseHeaders.trailers(status: .ok, details: nil, metadata: Metadata()))
    private static let okTrailersOnly = PreparedHeaders(
        GRPCResponseHeaders.trailersOnly(status: .ok, details: nil, metadata: Metadata()))

    static let endedError = RPCError(code: .unavailable, message: "the stream already ended")
    private static let finishedError = RPCError(code: .failedPrecondition, message: "the call already ended")
    private static let lostError = RPCError(code: .cancelled, message: "the client reset the stream or the connection closed")

    /// Submits the response HEADERS (with a body to follow).
    func sendHeaders(_ metadata: Metadata) throws(RPCError) {
        assert(loop.inEventLoop)
        guard !finished, !closed, !connection.isClosed else { throw Self.endedError }
        guard !responseStarted else { return }
        responseStarted = true
        do {
            if metadata.isEmpty {
                try connection.session?.submitResponse(streamID: id, prepared: Self.plainResponseHeaders, hasBody: true)
            } else {
                try connection.session?.submitResponse(
                    streamID: id, headers: GRPCResponseHeaders.headers(metadata: metadata), hasBody: true)
            }
        } catch {
            // Nothing could end the response after this: the stream is reset instead.
            resetFailed()
            throw RPCError(code: .internal, message: "could not send the response headers: \(error)")
        }
        connection.scheduleFlush()
    }

    /// Whether a write is outside the connection's and the loop's response limits (neither
    /// checked against them nor counted in them): a stream's second and later writes, while
    /// less than its high-water mark waits on it. Its writer waits at that mark (back-pressure),
    /// so such a stream holds at most its mark and one write more, however many streams do the
    /// same: a watch, which a burst of events gives one batch to each of ten thousand watchers
    /// at once (the same bytes, shared by every watcher's queue). Each call's first write (a
    /// unary answer, a List page, a watch's first message) is held to the limits, so a client
    /// that keeps its windows shut cannot make the server hold more than they allow by opening
    /// calls.
    private var writeMayPassLimits: Bool {
        wroteBefore && !outbound.isOverHighWater
    }

    /// Queues one response message. Returns whether the writer must wait for the queue to drain.
    func enqueue(_ message: [UInt8]) throws(RPCError) -> Bool {
        assert(loop.inEventLoop)
        guard !finished, !closed, !connection.isClosed else { throw Self.endedError }
        if !writeMayPassLimits, let refusal = connection.outboundRefusal(adding: GRPCFraming.prefixLength + message.count) {
            throw refuseResponse(refusal)
        }
        if !responseStarted { try sendHeaders(Metadata()) }
        let limited = !writeMayPassLimits
        wroteBefore = true
        outbound.appendMessage(message, limited: limited)
        resumeProvider()
        return outbound.isOverHighWater
    }

    /// Queues several response messages in order and wakes the data provider once, so they go
    /// out in as few DATA frames as the window allows. Returns whether the writer must wait.
    func enqueue(contentsOf messages: [[UInt8]]) throws(RPCError) -> Bool {
        assert(loop.inEventLoop)
        guard !finished, !closed, !connection.isClosed else { throw Self.endedError }
        let limited = !writeMayPassLimits
        if limited {
            let bytes = messages.reduce(0) { $0 + GRPCFraming.prefixLength + $1.count }
            if let refusal = connection.outboundRefusal(adding: bytes) { throw refuseResponse(refusal) }
        }
        if !responseStarted { try sendHeaders(Metadata()) }
        wroteBefore = true
        for message in messages { outbound.appendMessage(message, limited: limited) }
        resumeProvider()
        return outbound.isOverHighWater
    }

    /// A whole unary response in one go: the headers (unless already sent), one message, OK.
    func respond(headers: Metadata?, message: [UInt8], trailers: Metadata) throws(RPCError) {
        assert(loop.inEventLoop)
        guard !finished, !closed, !connection.isClosed else { throw Self.endedError }
        // Checked before the headers go, so a refused answer is trailers-only (see `enqueue`).
        if let refusal = connection.outboundRefusal(adding: GRPCFraming.prefixLength + message.count) {
            throw refuseResponse(refusal)
        }
        if let headers { try sendHeaders(headers) }
        _ = try enqueue(message)
        finish(status: .ok, details: nil, trailers: trailers)
    }

    /// Ends the response with a status: trailers after the queued messages, or a trailers-only
    /// response when nothing was sent. Writers still waiting fail.
    func finish(status: RPCStatus, details: [UInt8]?, trailers: Metadata) {
        assert(loop.inEventLoop)
        guard !finished else { return }
        finished = true
        // The deadline stays armed until the stream closes: a status that still waits behind
        // response bytes its client does not take when the deadline passes ends in a reset.
        // Nobody reads requests any more: later DATA is dropped and its window returned at once.
        accepting = false
        outbound.fail(Self.finishedError)
        guard !closed, !connection.isClosed, let session = connection.session else { return }
        let plainOK = status.code == .ok && status.message.isEmpty && details == nil && trailers.isEmpty
        if responseStarted {
            outbound.setEnd(plainOK
                ? .preparedTrailers(Self.okTrailers)
                : .trailers(GRPCResponseHeaders.trailers(status: status, details: details, metadata: trailers)))
            resumeProvider()
        } else {
            responseStarted = true
            do {
                if plainOK {
                    try session.submitResponse(streamID: id, prepared: Self.okTrailersOnly, hasBody: false)
                } else {
                    try session.submitResponse(
                        streamID: id,
                        headers: GRPCResponseHeaders.trailersOnly(status: status, details: details, metadata: trailers),
                        hasBody: false)
                }
            } catch {
                resetFailed()
            }
        }
        connection.scheduleFlush()
    }

    /// Rejects a request that is not gRPC at all with a plain HTTP status and text body.
    func rejectHTTP(status: Int, message: String) {
        finished = true
        responseStarted = true
        inbox.finish()
        guard let session = connection.session else { return }
        outbound.appendRaw(Array((message + "\n").utf8))
        outbound.setEnd(.endStream)
        let fields = [
            HeaderField(name: ":status", value: String(status)),
            HeaderField(name: "content-type", value: "text/plain; charset=utf-8"),
        ]
        do {
            try session.submitResponse(streamID: id, headers: fields, hasBody: true)
        } catch {
            session.submitReset(streamID: id, errorCode: Nghttp2ErrorCode.internalError)
        }
        connection.scheduleFlush()
    }

    /// Rejects a gRPC request with a trailers-only status.
    func rejectGRPC(_ status: RPCStatus, acceptEncoding: String?) {
        var fields = GRPCResponseHeaders.trailersOnly(status: status, details: nil, metadata: Metadata())
        if let acceptEncoding { fields.append(HeaderField(name: "grpc-accept-encoding", value: acceptEncoding)) }
        finished = true
        responseStarted = true
        inbox.finish()
        guard let session = connection.session else { return }
        do {
            try session.submitResponse(streamID: id, headers: fields, hasBody: false)
        } catch {
            session.submitReset(streamID: id, errorCode: Nghttp2ErrorCode.internalError)
        }
        connection.scheduleFlush()
    }

    /// nghttp2 could not send this stream's response headers or trailers (see
    /// `ServerConnection.sessionFrameNotSent`).
    func headersNotSent() {
        let handlerRuns = !finished
        resetFailed()
        // The client gets the reset (INTERNAL_ERROR). A call whose handler still runs (a stream's
        // response headers) ends INTERNAL for the observers too; one whose status was already
        // decided (its trailers dropped, a unary answer) keeps that status there.
        let status = RPCStatus(code: .internal, message: "the response's headers or trailers could not be sent; the stream was reset")
        if handlerRuns { cancelCall(.aborted(status)) }
    }

    /// Ends a response that cannot be sent: RST_STREAM with `errorCode`, whose sending closes the
    /// stream (`streamClosed`), which frees it. Writers still waiting fail.
    private func resetFailed(errorCode: UInt32 = Nghttp2ErrorCode.internalError) {
        finished = true
        accepting = false
        if deadlineSlot >= 0 { loop.disarmDeadline(self) }
        outbound.fail(Self.finishedError)
        outbound.clear()
        guard !closed, let session = connection.session else { return }
        session.submitReset(streamID: id, errorCode: errorCode)
        connection.scheduleFlush()
    }

    /// The client took none of the response queued for it for `stalledFor` (its window stayed
    /// shut, or it stopped reading): the queued bytes are dropped, the stream is reset (CANCEL)
    /// and a handler still running ends with RESOURCE_EXHAUSTED (its writes fail). A watch, say,
    /// no longer holds its place and its memory for a client that does not read.
    /// A unary answer already finished keeps its status for observers (as in `headersNotSent`).
    func resetStalled(stalledFor: Duration) {
        let status = RPCStatus(
            code: .resourceExhausted,
            message: "the client took none of the \(outbound.queuedBytes) bytes queued for it in \(stalledFor); "
                + "the stream was reset")
        // The core hears first, so the call's status is decided before its reads and writes fail.
        if !finished { cancelCall(.aborted(status)) }
        inbox.fail(RPCError(code: .cancelled, message: "the stream was reset: its client stopped taking the response"))
        resetFailed(errorCode: Nghttp2ErrorCode.cancel)
    }

    /// The connection holds too many response bytes its client has not taken
    /// (`ServerConnection.outboundRefusal`): the call ends with RESOURCE_EXHAUSTED instead of
    /// queuing its response, and the core records that status even for a unary answer it had
    /// already ended OK. Before any response HEADERS the status goes out trailers-only; after
    /// them, trailers would wait behind the data the client does not take, so the stream is reset
    /// with ENHANCE_YOUR_CALM (which gRPC clients read as RESOURCE_EXHAUSTED) and what it queued
    /// is dropped. Returns the error for the writer to throw.
    private func refuseResponse(_ reason: String) -> RPCError {
        let status = RPCStatus(code: .resourceExhausted, message: reason)
        callTarget?.responseRefused(status)
        if responseStarted {
            if !finished { cancelCall(.aborted(status)) }
            inbox.fail(RPCError(code: .resourceExhausted, message: reason))
            resetFailed(errorCode: Nghttp2ErrorCode.enhanceYourCalm)
        } else {
            abort(status)
        }
        return RPCError(code: .resourceExhausted, message: reason)
    }

    /// The transport ends the call itself (a corrupt or oversized request): the handler's reads
    /// fail, queued responses are dropped, the status goes out and the handler is cancelled.
    /// The stream is reset once the status is sent if the client is still sending.
    func abort(_ status: RPCStatus) {
        accepting = false
        inbox.fail(RPCError(code: status.code, message: status.message))
        outbound.clear()
        finish(status: status, details: nil, trailers: Metadata())
        cancelCall(.aborted(status))
    }

    /// nghttp2 closed the stream. Before the response ended that means the client reset it or
    /// the connection was lost (`byPeer`: the peer closed or reset it, or broke it; else this
    /// server closed it, shutting down): reads and writes fail and the handler is cancelled.
    func streamClosed(errorCode: UInt32?, byPeer: Bool = true) {
        closed = true
        accepting = false
        if deadlineSlot >= 0 { loop.disarmDeadline(self) }
        defer { callTarget = nil }
        if finished {
            inbox.fail(Self.lostError)
            outbound.fail(Self.finishedError)
            // A response the peer never took (its window stayed shut) goes with the stream.
            outbound.clear()
            return
        }
        finished = true
        // The core hears first, so the call's status is decided before its reads and writes fail.
        cancelCall(byPeer ? .peer(.now) : .shutDown)
        let error = errorCode.map {
            RPCError(code: .cancelled, message: "the client reset the stream (HTTP/2 error code \($0))")
        } ?? RPCError(code: .cancelled, message: "the connection to \(connection.peer) closed")
        inbox.fail(error)
        outbound.fail(error)
        outbound.clear()
    }

    // MARK: Cancellation and deadline (loop thread)

    /// The core's call for this stream: told when the peer cancels and, with a deadline, when it
    /// passes (the loop's `DeadlineQueue` fires `deadlinePassed`).
    func attach(_ target: any ServerCallTarget, deadline: CallDeadline?) {
        assert(loop.inEventLoop)
        if let cancelledEarly {
            Self.tell(target, cancelledEarly)
            return
        }
        guard !finished, !closed else { return }
        callTarget = target
        if let deadline { loop.armDeadline(self, at: deadline.instant) }
    }

    func deadlinePassed() {
        if held != nil, !finished, !closed {
            connection.launchHeld(self)
            return
        }
        guard !closed else { return }
        if !finished {
            guard let target = callTarget else { return }
            // Ends the call with DEADLINE_EXCEEDED through the core (which finishes this stream).
            target.deadlinePassed()
            task?.cancel()
        }
        // The status goes out behind the response bytes already queued (also when the call
        // ended before its deadline, its end not out yet). A client that stopped reading would
        // hold the stream, and those bytes, until the stall check (a minute or more); its
        // deadline has passed, so a status not out within a second ends in a reset.
        _ = loop.scheduleTimerOnLoop(after: Self.statusAfterDeadline) { [self] in
            guard !closed else { return }
            resetFailed(errorCode: Nghttp2ErrorCode.cancel)
        }
    }

    /// How long the status of a call whose deadline passed may wait for its client to read.
    static let statusAfterDeadline = Duration.seconds(1)

    /// The call is being cancelled by the peer or the transport: the core hears first, then the
    /// task serving the stream is cancelled.
    private func cancelCall(_ cancellation: Cancellation) {
        if let target = callTarget {
            Self.tell(target, cancellation)
        } else {
            cancelledEarly = cancellation
        }
        task?.cancel()
    }

    private static func tell(_ target: any ServerCallTarget, _ cancellation: Cancellation) {
        switch cancellation {
        case .peer(let at): target.peerCancelled(at: at)
        case .shutDown: target.connectionShutDown()
        case .aborted(let status): target.transportEnded(status)
        }
    }

    /// Lets the data provider run again after it ran dry.
    private func resumeProvider() {
        if outbound.deferred {
            outbound.deferred = false
            connection.session?.resumeData(streamID: id)
        }
        connection.scheduleFlush()
    }
}

/// HTTP/2 error codes used by the transport.
enum Nghttp2ErrorCode {
    static let noError: UInt32 = 0
    static let protocolError: UInt32 = 1
    static let internalError: UInt32 = 2
    static let refusedStream: UInt32 = 7
    static let cancel: UInt32 = 8
    static let enhanceYourCalm: UInt32 = 0xb
}
