internal import CapstanRPC

/// A server-side HTTP/2 connection: turns each inbound stream into a `ServerTransportStream` and
/// runs the RPC core's handler for it in a task that prefers this connection's loop (a worker of
/// the loop's `HandlerWorkers`, reused from call to call).
///
/// Safety of `@unchecked Sendable`: as for `HTTP2Connection`, every stored property here is
/// touched on `loop`'s thread only; other threads only hand it work with `loop.execute`.
final class ServerConnection: HTTP2Connection, @unchecked Sendable {
    let transport: HTTP2ServerTransport
    private let configuration: HTTP2ServerTransport.Configuration
    private let handler: ServerStreamHandler
    /// The core's immediate paths, by method path.
    private let immediateMethods: [String: ImmediateMethod]
    /// The tasks that run handlers on this connection's loop (shared by the loop's connections).
    private let workers: HandlerWorkers
    /// Response bytes queued on this connection's streams (its parent: on the loop's).
    let outboundLedger: ByteLedger
    /// Request bytes of unfinished messages held by this connection's streams (its parent: the loop's).
    let inboundLedger: ByteLedger
    // `@exclusivity(unchecked)` here and on the other loop-thread-only state of the server path
    // (the stream's deframer, the outbound queue, the idle workers): each of these is touched by
    // the loop thread only and never across a suspension, and a dynamic exclusivity check costs a
    // thread-local access-set insert and remove; the hot path made about 30 of them per call.
    @exclusivity(unchecked) private var streams = StreamTable<ServerStream>()

    private enum Drain { case open, noticeSent, goAwaySent }
    private var drain = Drain.open
    private var drainTimer: EventLoopTimer?
    /// Armed from the start until the client's preface and first SETTINGS arrived.
    private var handshakeTimer: EventLoopTimer?
    /// The next check for streams whose client takes nothing (`sendStallTimeout`).
    private var stallTimer: EventLoopTimer?

    init(
        loop: EventLoop,
        fd: Int32,
        peer: String,
        transport: HTTP2ServerTransport,
        configuration: HTTP2ServerTransport.Configuration,
        handler: @escaping ServerStreamHandler,
        immediateMethods: [String: ImmediateMethod],
        workers: HandlerWorkers,
        loopOutbound: ByteLedger,
        loopInbound: ByteLedger
    ) {
        self.transport = transport
        self.configuration = configuration
        self.handler = handler
        self.immediateMethods = immediateMethods
        self.workers = workers
        outboundLedger = ByteLedger(parent: loopOutbound)
        inboundLedger = ByteLedger(parent: loopInbound)
        super.init(loop: loop, fd: fd, peer: peer, keepalive: configuration.keepalive)
    }

    override func makeSession() throws(HTTP2TransportError) -> Session {
        try Session(
            role: .server,
            settings: Session.Settings(
                maxConcurrentStreams: UInt32(clamping: configuration.maxConcurrentStreams),
                initialWindowSize: UInt32(clamping: configuration.initialStreamWindowSize),
                connectionWindowSize: Int32(clamping: configuration.connectionWindowSize),
                maxHeaderListSize: UInt32(clamping: configuration.maxHeaderListSize)),
            delegate: self, memory: loop.sessionMemory)
    }

    override func startSession() throws(HTTP2TransportError) {
        // Best effort: a socket that refuses it still serves.
        if let keepalive = configuration.tcpKeepalive { try? Socket.setKeepalive(fd, keepalive) }
        try super.startSession()
        if let timeout = configuration.sendStallTimeout { scheduleStallCheck(timeout) }
        guard let timeout = configuration.handshakeTimeout else { return }
        // (The timer holds the connection until it fires or is cancelled.)
        handshakeTimer = loop.scheduleTimerOnLoop(after: timeout) { [self] in
            handshakeTimer = nil
            close(HTTP2TransportError(
                .connectionClosed, "the client sent no HTTP/2 preface and SETTINGS within \(timeout)"))
        }
    }

    private func scheduleStallCheck(_ timeout: Duration) {
        // (The timer holds the connection until it fires or is cancelled on close.)
        stallTimer = loop.scheduleTimerOnLoop(after: max(timeout / Self.stallChecks, .milliseconds(10))) { [self] in
            stallTimer = nil
            guard !isClosed else { return }
            resetStalledStreams(timeout)
            scheduleStallCheck(timeout)
        }
    }

    /// Checks per `sendStallTimeout`: a stalled stream is reset between the timeout and a
    /// quarter more (checks every half timeout, two in a row, made it up to half more).
    private static let stallChecks = 4

    /// Resets the streams with response bytes queued of which the client took none over
    /// `stallChecks` checks in a row after the one that found them queued (so for at least
    /// `timeout`). A stream held back only by the connection's window (the client returns no
    /// credit, or reads other streams only) counts as stalled too.
    private func resetStalledStreams(_ timeout: Duration) {
        var stalled: [ServerStream] = []
        for stream in streams.allValues {
            let handedOver = stream.outbound.handedOver
            if stream.outbound.queuedBytes == 0 {
                // Nothing waits: the next check that finds bytes queued only starts counting.
                stream.stallMark = -1
                stream.stalledChecks = 0
                continue
            }
            if handedOver != stream.stallMark {
                stream.stallMark = handedOver
                stream.stalledChecks = 0
                continue
            }
            stream.stalledChecks += 1
            if stream.stalledChecks >= Self.stallChecks { stalled.append(stream) }
        }
        for stream in stalled { stream.resetStalled(stalledFor: timeout) }
        refuseStalledRequests(timeout)
    }

    /// Fails the calls whose client sent nothing more over `stallChecks` checks in a row while
    /// the transport holds request bytes of theirs (a message begun and not finished, or a held
    /// call's message without the half-close): memory a client could otherwise keep forever.
    private func refuseStalledRequests(_ timeout: Duration) {
        var stalled: [ServerStream] = []
        for stream in streams.allValues {
            guard stream.inboundCounted > 0, !stream.finished, !stream.closed else {
                stream.inboundStalledChecks = 0
                continue
            }
            if stream.receivedBytes != stream.inboundMark {
                stream.inboundMark = stream.receivedBytes
                stream.inboundStalledChecks = 0
                continue
            }
            stream.inboundStalledChecks += 1
            if stream.inboundStalledChecks >= Self.stallChecks { stalled.append(stream) }
        }
        for stream in stalled {
            refuse(stream, RPCStatus(
                code: .resourceExhausted,
                message: "the client sent nothing more of its request for \(timeout) (a message begun and not finished, "
                    + "or not ended); send whole requests"))
        }
        if !stalled.isEmpty { scheduleFlush() }
    }

    /// The client's first SETTINGS (nghttp2 checked the preface before it): the handshake is done.
    override func sessionSettingsReceived() {
        handshakeTimer?.cancel()
        handshakeTimer = nil
    }

    /// Number of open streams (for tests).
    var streamCount: Int { streams.count }
    /// The request inboxes of the open streams (for tests).
    var openInboxes: [StreamInbox] { streams.allValues.map(\.inbox) }
    override var hasStreams: Bool { streams.count > 0 }

    /// The largest outbound queue any stream of this connection had, open streams included
    /// (for tests).
    private var closedStreamsHighWaterMark = 0
    var outboundHighWaterMark: Int {
        streams.allValues.reduce(closedStreamsHighWaterMark) { max($0, $1.outbound.queuedHighWaterMark) }
    }

    // MARK: Response memory

    /// Why a response of `bytes` must not be queued on this connection (see
    /// `Configuration.connectionOutboundLimit` and `loopOutboundLimit`), or nil if it may be.
    /// A connection with nothing queued may always queue one response, so a client that reads
    /// what it gets is never refused by this connection's limit.
    func outboundRefusal(adding bytes: Int) -> String? {
        let queued = outboundLedger.queued
        guard queued > 0 else { return nil }
        if let limit = configuration.connectionOutboundLimit, queued + bytes > limit {
            return "the client has not taken \(queued) bytes of responses on this connection, and this one "
                + "(\(bytes) bytes) would take it past the server's limit of \(limit) per connection; "
                + "read the responses (or open the HTTP/2 flow-control window) before calling again"
        }
        if let limit = configuration.loopOutboundLimit, queued >= configuration.outboundShareFloor,
            let total = outboundLedger.parent?.queued, total + bytes > limit
        {
            return "the server holds \(total) bytes of responses its clients have not taken (its limit is "
                + "\(limit) per event loop), \(queued) of them for this connection; read the responses (or "
                + "open the HTTP/2 flow-control window) before calling again"
        }
        return nil
    }

    // MARK: Graceful shutdown

    /// GOAWAY in two steps (a notice, then after a PING round trip the last stream id); streams
    /// in flight finish; the connection closes once they did.
    func beginGracefulShutdown() {
        assert(loop.inEventLoop)
        guard drain == .open, !isClosed, let session else { return }
        drain = .noticeSent
        session.submitShutdownNotice()
        session.submitPing()
        scheduleFlush()
        // Should the PING go unanswered, send the final GOAWAY anyway.
        // (The timer holds the connection until it fires or is cancelled on close.)
        drainTimer = loop.scheduleTimerOnLoop(after: .seconds(1)) { [self] in sendFinalGoAway() }
    }

    private func sendFinalGoAway() {
        guard drain == .noticeSent, !isClosed, let session else { return }
        drain = .goAwaySent
        drainTimer?.cancel()
        session.submitGoAway()
        scheduleFlush()
    }

    override func sessionPingAcknowledged() {
        super.sessionPingAcknowledged()
        if drain == .noticeSent { sendFinalGoAway() }
    }

    override func didFlush() {
        if drain == .goAwaySent, streams.isEmpty, !(session?.wantsWrite ?? false) {
            close()
        }
    }

    override func connectionDidClose(_ error: HTTP2TransportError?) {
        drainTimer?.cancel()
        handshakeTimer?.cancel()
        handshakeTimer = nil
        stallTimer?.cancel()
        stallTimer = nil
        receivingHeaders = nil
        receivingHeadersID = 0
        let open = streams
        streams.removeAll()
        // Closed by this server shutting down, or else by the peer (closed, reset or broke it).
        let byPeer = error?.code != .shutDown
        for stream in open.allValues {
            uncountInbound(stream)
            stream.streamClosed(errorCode: nil, byPeer: byPeer)
            stream.outbound.detachLedger()
        }
        assert(inboundLedger.queued == 0, "unfinished request bytes still counted on a closed connection")
        transport.connectionClosed(self)
    }

    // MARK: Streams

    /// The stream whose request headers are arriving (header blocks are never interleaved).
    private var receivingHeaders: ServerStream?
    /// Its id (checked per header field without touching the stream), 0 when none.
    private var receivingHeadersID: Int32 = 0
    /// The header block arriving, validated field by field as nghttp2 hands them over.
    @exclusivity(unchecked) private var headerParser = GRPCRequestHeaderParser(keepsAuthorityAndUserAgent: false)
    /// The size of the arriving request header block as SETTINGS_MAX_HEADER_LIST_SIZE counts it
    /// (name + value + 32 per field). nghttp2 does not enforce the limit we announce: past it,
    /// fields are no longer parsed and the call fails alone with RESOURCE_EXHAUSTED (see `start`).
    /// Only nghttp2's own limits still end the connection: a single field over 64 KiB (its HPACK
    /// inflater's fixed maximum, COMPRESSION_ERROR) and a block in more than 64 CONTINUATION
    /// frames (`Session`, about 1 MiB).
    private var headerListSize = 0

    override func sessionBeginHeaders(streamID: Int32, first: Bool) {
        // Trailers from a client carry nothing a gRPC server uses: they are ignored.
        guard first else {
            receivingHeaders = nil
            receivingHeadersID = 0
            return
        }
        let stream = ServerStream(
            id: streamID, connection: self, maxMessageSize: configuration.maxReceiveMessageSize,
            inboundHighWater: configuration.inboundBufferSize, outboundHighWater: configuration.outboundBufferSize)
        stream.outbound.ledger = outboundLedger
        streams[streamID] = stream
        receivingHeaders = stream
        receivingHeadersID = streamID
        headerParser.reset()
        headerListSize = 0
    }

    override func sessionHeader(streamID: Int32, name: HeaderBytes, value: HeaderBytes) -> Bool {
        guard receivingHeadersID == streamID, streamID != 0 else { return true }
        headerListSize += Self.headerFieldSize(name: name, value: value)
        guard headerListSize <= configuration.maxHeaderListSize else {
            let hardLimit = Self.headerBlockHardLimit(announced: configuration.maxHeaderListSize)
            guard headerListSize > hardLimit else { return true }
            receiveFailure = HTTP2TransportError(
                .protocolError,
                "the client sent a header block that decodes to more than \(hardLimit) bytes "
                    + "(the limit is \(configuration.maxHeaderListSize)); the connection was closed")
            return false
        }
        headerParser.add(name: name, value: value)
        return true
    }

    override func sessionHeadersReceived(streamID: Int32, endStream: Bool) {
        receivingHeaders = nil
        receivingHeadersID = 0
        guard let stream = streams[streamID] else { return }
        if stream.task == nil, stream.held == nil, !stream.finished {
            start(stream, endStream: endStream)
        } else if endStream {
            requestEnded(stream)
        }
    }

    private func start(_ stream: ServerStream, endStream: Bool) {
        guard headerListSize <= configuration.maxHeaderListSize else {
            let message = "the request's headers take \(headerListSize) bytes, over the server's limit of "
                + "\(configuration.maxHeaderListSize) (SETTINGS_MAX_HEADER_LIST_SIZE)"
            let status = RPCStatus(code: .resourceExhausted, message: message)
            stream.rejectGRPC(status, acceptEncoding: nil)
            if let path = headerParser.path { launchRejected(stream, path: path, status: status) }
            return
        }
        let head: GRPCRequestHead
        switch headerParser.finish() {
        case .success(let parsed):
            head = parsed
        case .failure(.http(let status, let message)):
            stream.rejectHTTP(status: status, message: message)
            return
        case .failure(.grpc(let status, let acceptEncoding)):
            stream.rejectGRPC(status, acceptEncoding: acceptEncoding)
            if let path = headerParser.rejectedPath { launchRejected(stream, path: path, status: status) }
            return
        }
        stream.accepting = true
        let deadline = head.timeout.map { CallDeadline(after: $0) }
        if !immediateMethods.isEmpty, let method = immediateMethods[head.path] {
            // Held until the client half-closes, then offered to the immediate path first. Its
            // deadline runs meanwhile: a client that never half-closes gets DEADLINE_EXCEEDED.
            stream.held = ServerStream.Held(head: head, deadline: deadline, method: method)
            if endStream {
                requestEnded(stream)
            } else if let deadline {
                loop.armDeadline(stream, at: deadline.instant)
            }
            return
        }
        if endStream { requestEnded(stream) }
        launch(stream, head: head, deadline: deadline)
    }

    /// A held call's deadline passed before its client half-closed: the general path takes it
    /// (and, its deadline gone, answers DEADLINE_EXCEEDED as observers see it).
    func launchHeld(_ stream: ServerStream) {
        guard let held = stream.held.take() else { return }
        _ = countInbound(stream)
        launch(stream, head: held.head, deadline: held.deadline)
    }

    /// Starts the stream's handler task.
    private func launch(_ stream: ServerStream, head: GRPCRequestHead, deadline: CallDeadline?) {
        let requests = RequestMessages(inbox: stream.inbox)
        let writer = ServerWriter(stream: stream)
        let transportStream = ServerTransportStream(
            path: head.path,
            metadata: head.metadata,
            deadline: deadline,
            peer: peer,
            requests: requests,
            writer: writer,
            immediateRequests: requests,
            callControl: writer)
        startHandler(stream, transportStream)
    }

    /// Runs the core's handler for `stream` on a worker.
    private func startHandler(_ stream: ServerStream, _ transportStream: ServerTransportStream) {
        transport.handlerStarted()
        workers.start(HandlerWorkers.Call(stream: stream, transportStream: transportStream, handler: handler, transport: transport))
    }

    /// A call this transport answered itself before any handler ran (rejected headers, or a
    /// corrupt or oversized request to a held call): the core only tells its observers
    /// (`ServerTransportStream.rejection`), so logs and metrics see it as the client did.
    private func launchRejected(_ stream: ServerStream, path: String, status: RPCStatus) {
        let requests = RequestMessages(inbox: stream.inbox)
        let transportStream = ServerTransportStream(
            path: path, metadata: Metadata(), deadline: nil, peer: peer, requests: requests,
            writer: ServerWriter(stream: stream), immediateRequests: nil, callControl: nil, rejection: status)
        startHandler(stream, transportStream)
    }

    override func sessionDataChunk(streamID: Int32, chunk: DataChunk) {
        guard let session else { return }
        // The connection window always comes back at once: a slow stream holds back only itself.
        session.consumeConnection(chunk.count)
        guard let stream = streams[streamID], stream.accepting else {
            session.consumeStream(streamID, chunk.count)
            return
        }
        stream.uncredited += chunk.count
        stream.receivedBytes &+= chunk.count
        chunk.append(to: &stream.deframer)
        do {
            while let message = try stream.deframer.next() {
                stream.inbox.push(.message(message), bytes: StreamInbox.charge(forMessageOfSize: message.count))
                // A held call waits for the half-close after its one request. A further message
                // starts its task at once: the general path fails the call as it should.
                if stream.heldMessage, let held = stream.held.take() {
                    launch(stream, head: held.head, deadline: held.deadline)
                } else if stream.held != nil {
                    stream.heldMessage = true
                    stream.heldBytes = message.count
                }
            }
        } catch {
            refuse(stream, error.status)
            return
        }
        if let reason = countInbound(stream) {
            refuse(stream, RPCStatus(code: .resourceExhausted, message: reason))
            return
        }
        returnCredit(stream)
    }

    /// Ends `stream`'s call with `status` while its request is arriving: later DATA is dropped
    /// (its window returned), and so are the bytes of a message begun.
    private func refuse(_ stream: ServerStream, _ status: RPCStatus) {
        session?.consumeStream(stream.id, stream.uncredited)
        stream.uncredited = 0
        stream.deframer = GRPCDeframer(maxMessageSize: configuration.maxReceiveMessageSize)
        uncountInbound(stream)
        stream.abort(status)
        if let held = stream.held.take() { launchRejected(stream, path: held.head.path, status: status) }
    }

    /// Brings the inbound ledgers to `stream`'s unfinished message bytes; returns why its call
    /// must fail when they take the connection or the loop past their limits
    /// (`Configuration.connectionInboundLimit`, `loopInboundLimit`).
    private func countInbound(_ stream: ServerStream) -> String? {
        let held = stream.deframer.bufferedByteCount + (stream.held != nil && stream.heldMessage ? stream.heldBytes : 0)
        let added = held - stream.inboundCounted
        guard added != 0 else { return nil }
        stream.inboundCounted = held
        guard added > 0 else {
            inboundLedger.subtract(-added)
            return nil
        }
        inboundLedger.add(added)
        let connection = inboundLedger.queued
        if let limit = configuration.connectionInboundLimit, connection > limit {
            return "this connection's calls have sent \(connection) bytes of request messages they have not finished, "
                + "past the server's limit of \(limit) per connection; send large requests fewer at a time"
        }
        if let limit = configuration.loopInboundLimit, connection >= configuration.inboundShareFloor,
            let total = inboundLedger.parent?.queued, total > limit
        {
            return "the server holds \(total) bytes of request messages its clients have begun and not finished (its "
                + "limit is \(limit) per event loop), \(connection) of them from this connection; retry later"
        }
        return nil
    }

    /// Takes `stream`'s unfinished message bytes off the inbound ledgers (it closed or failed).
    private func uncountInbound(_ stream: ServerStream) {
        guard stream.inboundCounted > 0 else { return }
        inboundLedger.subtract(stream.inboundCounted)
        stream.inboundCounted = 0
    }

    override func sessionDataReceived(streamID: Int32, endStream: Bool) {
        guard endStream, let stream = streams[streamID] else { return }
        requestEnded(stream)
    }

    /// The client half-closed: the request stream ends (or fails if a message was cut short).
    private func requestEnded(_ stream: ServerStream) {
        guard stream.accepting else { return }
        stream.accepting = false
        do {
            try stream.deframer.finish()
            stream.inbox.finish()
        } catch {
            refuse(stream, error.status)
            return
        }
        // Whatever the transport held goes to the handler now.
        uncountInbound(stream)
        guard let held = stream.held.take() else { return }
        if case .one(let request)? = try? stream.inbox.peekImmediately(),
            held.method.answer(
                path: held.head.path, metadata: held.head.metadata, deadline: held.deadline, peer: peer,
                request: request, writer: ServerWriter(stream: stream))
        {
            return
        }
        launch(stream, head: held.head, deadline: held.deadline)
    }

    /// Returns the stream window the handler made room for (see `StreamInbox`).
    func returnCredit(streamID: Int32) {
        guard let stream = streams[streamID] else { return }
        returnCredit(stream)
        scheduleFlush()
    }

    private func returnCredit(_ stream: ServerStream) {
        guard stream.uncredited > 0, stream.inbox.admitsCredit() else { return }
        session?.consumeStream(stream.id, stream.uncredited)
        stream.uncredited = 0
    }

    override func sessionOutbound(streamID: Int32) -> StreamOutbound? {
        streams[streamID]?.outbound
    }

    override func sessionFrameSent(streamID: Int32, kind: FrameKind, endStream: Bool) {
        // The response ended while the client is still sending: tell it to stop (as gRPC does).
        guard endStream, streamID != 0, let session, !session.isRemoteClosed(streamID: streamID) else { return }
        session.submitReset(streamID: streamID, errorCode: Nghttp2ErrorCode.noError)
    }

    override func sessionFrameNotSent(streamID: Int32, kind: FrameKind) {
        // Response headers or trailers that could not go out (past nghttp2's 64 KiB limit on a
        // sent header block, though trailers are bounded): the client would wait forever and the
        // stream would hold its slot. Resetting it closes it, which releases the stream.
        guard kind == .headers, let stream = streams[streamID] else { return }
        stream.headersNotSent()
    }

    override func sessionStreamClosed(streamID: Int32, errorCode: UInt32) {
        guard let stream = streams.removeValue(forKey: streamID) else { return }
        if receivingHeaders === stream {
            receivingHeaders = nil
            receivingHeadersID = 0
        }
        closedStreamsHighWaterMark = max(closedStreamsHighWaterMark, stream.outbound.queuedHighWaterMark)
        uncountInbound(stream)
        if stream.uncredited > 0 {
            session?.consumeStream(streamID, stream.uncredited)
            stream.uncredited = 0
        }
        stream.streamClosed(errorCode: errorCode)
        stream.outbound.detachLedger()
        if streams.isEmpty, drain == .goAwaySent { scheduleFlush() }
    }
}
