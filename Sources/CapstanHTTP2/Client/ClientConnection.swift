internal import CapstanRPC

/// A client-side HTTP/2 connection to one target: connects, waits for the server's SETTINGS
/// (then it is ready), carries many streams, and reports to its pool when it can take no more
/// streams (GOAWAY) or closed.
///
/// Safety of `@unchecked Sendable`: as for `HTTP2Connection`, every stored `var` here is touched
/// on `loop`'s thread only (other threads use `loop.execute`); `readiness` is thread-safe and
/// `address`, `configuration` and `pool` are immutable.
final class ClientConnection: HTTP2Connection, @unchecked Sendable {
    let address: SocketAddress
    private let configuration: HTTP2ClientTransport.Configuration
    /// Strong: the pool lists this connection until it closed (then it drops it), and a
    /// connection may outlive the transport by the time it takes to drain.
    private let pool: ConnectionPool
    let readiness = ReadinessLatch()
    private var streams: [Int32: ClientStream] = [:]
    override var hasStreams: Bool { !streams.isEmpty }
    private var connectTimer: EventLoopTimer?
    private var ready = false
    /// GOAWAY received or sent: no new streams; close once the last one ended.
    private(set) var draining = false
    /// Why the connection closed, for the streams still waiting to attach.
    private var closeReason: RPCError?
    /// The GOAWAY received, if any: nghttp2 closes the streams above its last stream id with
    /// REFUSED_STREAM.
    private var goAway: (lastStreamID: Int32, errorCode: UInt32)?
    /// Inboxes whose parked reader got response parts this tick (woken at its end).
    private var wakes: [StreamInbox] = []

    init(loop: EventLoop, fd: Int32, address: SocketAddress, configuration: HTTP2ClientTransport.Configuration, pool: ConnectionPool) {
        self.address = address
        self.configuration = configuration
        self.pool = pool
        super.init(loop: loop, fd: fd, peer: address.description, keepalive: configuration.keepalive)
    }

    override func makeSession() throws(HTTP2TransportError) -> Session {
        try Session(
            role: .client,
            settings: Session.Settings(
                maxConcurrentStreams: nil,
                initialWindowSize: UInt32(clamping: configuration.initialStreamWindowSize),
                connectionWindowSize: Int32(clamping: configuration.connectionWindowSize),
                maxHeaderListSize: UInt32(clamping: configuration.maxHeaderListSize)),
            delegate: self, memory: loop.sessionMemory)
    }

    /// Starts connecting (on the loop); readiness reports the outcome.
    func connect(connected: Bool) {
        assert(loop.inEventLoop)
        // The pool's close can queue this connection's drain (which closes it) ahead of this.
        guard !isClosed else { return }
        connectTimer = loop.scheduleTimerOnLoop(after: configuration.connectTimeout) { [self] in
            guard !ready else { return }
            close(HTTP2TransportError(.connectionClosed, "connecting to \(address.hostAndPort) timed out"))
        }
        // A failure closes the connection, which tells the pool and the waiters.
        try? start(connected: connected)
    }

    override func connectCompleted() {
        if let error = Socket.connectionError(fd) {
            close(error)
            return
        }
        try? startSession()
    }

    /// Every SETTINGS from the server (nghttp2 has applied it): the first makes the connection
    /// ready; each tells the pool the stream limit now in effect, which a server may lower or
    /// raise at any time.
    override func sessionSettingsReceived() {
        guard !isClosed else { return }
        let limit = session.map { Int($0.remoteMaxConcurrentStreams) } ?? 100
        guard !ready else {
            pool.limitChanged(self, maxConcurrentStreams: limit)
            return
        }
        ready = true
        connectTimer?.cancel()
        connectTimer = nil
        pool.connectionReady(self, maxConcurrentStreams: limit)
        readiness.succeed()
    }

    // MARK: Streams

    /// Resumes `inbox`'s parked reader at the end of this loop tick, so the parts of all the
    /// frames read in one go reach it in one resume.
    func scheduleWake(_ inbox: StreamInbox) {
        assert(loop.inEventLoop)
        if wakes.isEmpty { loop.executeAtEndOfTick { [self] in wakeReaders() } }
        wakes.append(inbox)
    }

    private func wakeReaders() {
        let inboxes = wakes
        wakes.removeAll(keepingCapacity: true)
        for inbox in inboxes { inbox.wake() }
    }

    /// Submits the stream's request HEADERS (loop thread). A connection that closed or drains
    /// ends the stream with UNAVAILABLE.
    func attach(_ stream: ClientStream) {
        assert(loop.inEventLoop)
        guard !stream.statusDelivered else {
            pool.streamEnded(on: self)
            return
        }
        guard !isClosed, !draining, let session else {
            // Never sent: the caller may retry it anywhere.
            stream.closed = true
            stream.deliverStatus(
                closeReason?.status ?? RPCStatus(code: .unavailable, message: "the connection to \(address.hostAndPort) is closing"),
                trailers: Self.unprocessedTrailers)
            pool.streamEnded(on: self)
            return
        }
        do {
            stream.id = try session.submitRequest(headers: stream.requestHeaders)
        } catch {
            stream.closed = true
            stream.deliverStatus(RPCStatus(code: .internal, message: "could not start the call: \(error)"))
            pool.streamEnded(on: self)
            return
        }
        stream.attached = true
        streams[stream.id] = stream
        stream.startDeadline()
        stream.resumeProvider()
    }

    override func sessionOutbound(streamID: Int32) -> StreamOutbound? {
        streams[streamID]?.outbound
    }

    override func sessionFrameSent(streamID: Int32, kind: FrameKind, endStream: Bool) {
        guard kind == .headers, let stream = streams[streamID] else { return }
        stream.headersSent = true
    }

    override func sessionBeginHeaders(streamID: Int32, first: Bool) {
        headerBlockSize = 0
        guard let stream = streams[streamID] else { return }
        stream.responseHeaders.removeAll(keepingCapacity: true)
        stream.collectingTrailers = stream.sawResponseHeaders
    }

    /// Recent response header names and values (`content-type`, `grpc-status`, …), reused.
    private var headerTexts = HeaderTextCache()

    /// The size of the arriving header block, as SETTINGS_MAX_HEADER_LIST_SIZE counts it.
    private var headerBlockSize = 0

    override func sessionHeader(streamID: Int32, name: HeaderBytes, value: HeaderBytes) -> Bool {
        headerBlockSize += Self.headerFieldSize(name: name, value: value)
        let hardLimit = Self.headerBlockHardLimit(announced: configuration.maxHeaderListSize)
        guard headerBlockSize <= hardLimit else {
            receiveFailure = HTTP2TransportError(
                .protocolError,
                "the server sent a header block that decodes to more than \(hardLimit) bytes; the connection was closed")
            return false
        }
        guard let stream = streams[streamID] else { return true }
        stream.responseHeaders.append(HeaderField(name: headerTexts.text(name), value: headerTexts.text(value)))
        return true
    }

    override func sessionHeadersReceived(streamID: Int32, endStream: Bool) {
        guard let stream = streams[streamID] else { return }
        let fields = stream.responseHeaders
        stream.responseHeaders = []
        if stream.collectingTrailers {
            let part = Self.withoutUnprocessedKey(GRPCResponseHeaders.parseTrailers(fields))
            noteUnavailable(part)
            stream.deliver(part)
        } else {
            if let status = fields.first(":status"), status.hasPrefix("1") { return }  // informational
            stream.sawResponseHeaders = true
            let part = Self.withoutUnprocessedKey(GRPCResponseHeaders.parseHeaders(fields))
            noteUnavailable(part)
            stream.deliver(part)
            if case .headers = part, endStream {
                stream.deliverStatus(RPCStatus(code: .internal, message: "the server ended the stream without a status"))
            }
        }
        // nghttp2 marks the remote side closed only after this callback, so `endStream` is what
        // says the server finished (trailers always do). Resetting such a stream would send a
        // needless RST_STREAM per call, and nghttp2 servers end a connection that receives more
        // than ~1000 of them in a burst (their rapid-reset limit) with GOAWAY INTERNAL_ERROR.
        if stream.statusDelivered, !endStream, !stream.closed, let session, !session.isRemoteClosed(streamID: streamID) {
            // An error in the headers ended the call early: stop the server sending.
            session.submitReset(streamID: streamID, errorCode: Nghttp2ErrorCode.cancel)
        }
    }

    override func sessionDataChunk(streamID: Int32, chunk: DataChunk) {
        guard let session else { return }
        session.consumeConnection(chunk.count)
        guard let stream = streams[streamID], !stream.statusDelivered else {
            session.consumeStream(streamID, chunk.count)
            return
        }
        stream.uncredited += chunk.count
        // One reference to the inbox for the whole chunk: the reader's thread works on the same
        // object, so a retain per message would bounce its cache line between the cores.
        let inbox: StreamInbox = stream.inbox
        do {
            try chunk.deframe(into: &stream.deframer) { message in
                if inbox.pushDeferringWake(.message(message), bytes: StreamInbox.charge(forMessageOfSize: message.count)) {
                    scheduleWake(inbox)
                }
            }
        } catch {
            session.consumeStream(streamID, stream.uncredited)
            stream.uncredited = 0
            stream.deliverStatus(error.status)
            session.submitReset(streamID: streamID, errorCode: Nghttp2ErrorCode.cancel)
            return
        }
        returnCredit(stream)
    }

    override func sessionDataReceived(streamID: Int32, endStream: Bool) {
        guard endStream, let stream = streams[streamID], !stream.statusDelivered else { return }
        // END_STREAM on DATA: the server never sent trailers.
        do {
            try stream.deframer.finish()
            stream.deliverStatus(RPCStatus(code: .internal, message: "the server ended the stream without trailers"))
        } catch {
            stream.deliverStatus(error.status)
        }
    }

    func returnCredit(_ stream: ClientStream) {
        guard stream.uncredited > 0, !stream.closed, stream.inbox.admitsCredit() else { return }
        session?.consumeStream(stream.id, stream.uncredited)
        stream.uncredited = 0
        scheduleFlush()
    }

    override func sessionStreamClosed(streamID: Int32, errorCode: UInt32) {
        guard let stream = streams.removeValue(forKey: streamID) else { return }
        end(
            stream, Self.status(forReset: errorCode),
            unprocessed: !stream.headersSent || provablyUnprocessed(streamID, errorCode), failing: ClientStream.endedError)
        if draining, streams.isEmpty { scheduleFlush() }
    }

    /// Ends a stream the connection has let go of: its caller gets `status` (unless it has
    /// one already; `unprocessedTrailers` when `unprocessed`), its writer `error`, and the pool
    /// its reservation back.
    private func end(
        _ stream: ClientStream, _ status: @autoclosure () -> RPCStatus, unprocessed: @autoclosure () -> Bool, failing error: RPCError
    ) {
        stream.closed = true
        if !stream.statusDelivered {
            stream.deliverStatus(status(), trailers: unprocessed() ? Self.unprocessedTrailers : Metadata())
        }
        stream.outbound.fail(error)
        pool.streamEnded(on: self)
    }

    /// Whether a stream closed with `errorCode` (its HEADERS sent) never reached the server's
    /// handler: REFUSED_STREAM
    /// from the server, or a stream above the last stream id of a graceful (NO_ERROR) GOAWAY.
    /// Streams above the id of an error GOAWAY are not trusted: after nghttp2's rapid-reset
    /// termination (GOAWAY INTERNAL_ERROR) a create retried on that basis was found stored twice.
    private func provablyUnprocessed(_ streamID: Int32, _ errorCode: UInt32) -> Bool {
        guard errorCode == Nghttp2ErrorCode.refusedStream else { return false }
        guard let goAway, streamID > goAway.lastStreamID else { return true }
        return goAway.errorCode == 0
    }

    /// A status UNAVAILABLE from the server makes later calls prefer another target (the server
    /// may stay unable for a while; another may serve). The call itself is not retried here.
    private func noteUnavailable(_ part: ClientResponsePart) {
        if case .status(let status, _, _) = part, status.code == .unavailable { pool.serverUnavailable(on: self) }
    }

    /// The trailers of a status for a stream the server never processed.
    static let unprocessedTrailers: Metadata = [HTTP2ClientTransport.unprocessedKey: "1"]

    /// `part` without `unprocessedKey` in its trailers: only this transport may set it.
    static func withoutUnprocessedKey(_ part: ClientResponsePart) -> ClientResponsePart {
        guard case .status(let status, let details, var trailers) = part,
            trailers.first(HTTP2ClientTransport.unprocessedKey) != nil
        else { return part }
        trailers.removeAll(HTTP2ClientTransport.unprocessedKey)
        return .status(status, details: details, trailers: trailers)
    }

    /// gRPC's mapping of an HTTP/2 RST_STREAM error code to a status.
    static func status(forReset code: UInt32) -> RPCStatus {
        switch code {
        case Nghttp2ErrorCode.refusedStream:
            RPCStatus(code: .unavailable, message: "the server refused the stream (REFUSED_STREAM)")
        case Nghttp2ErrorCode.cancel:
            RPCStatus(code: .cancelled, message: "the server cancelled the stream")
        case Nghttp2ErrorCode.enhanceYourCalm:
            RPCStatus(code: .resourceExhausted, message: "the server reset the stream (ENHANCE_YOUR_CALM)")
        case 0xc:
            RPCStatus(code: .permissionDenied, message: "the server reset the stream (INADEQUATE_SECURITY)")
        default:
            RPCStatus(code: .internal, message: "the server reset the stream (HTTP/2 error code \(code))")
        }
    }

    // MARK: Shutdown

    override func sessionGoAwayReceived(lastStreamID: Int32, errorCode: UInt32) {
        goAway = (min(lastStreamID, goAway?.lastStreamID ?? .max), max(errorCode, goAway?.errorCode ?? 0))
        endQueuedStreams(after: lastStreamID)
        guard !draining else { return }
        draining = true
        pool.connectionDraining(self)
    }

    /// Ends the streams above `lastStreamID` whose HEADERS still wait in nghttp2's queue (behind
    /// the server's stream limit): after a GOAWAY they can never start here, and nghttp2 would
    /// only drop them once a stream ahead of them ended, perhaps never (a watch). They never
    /// reached the server, whatever the GOAWAY's error code: unprocessed, to be retried
    /// elsewhere. Their queued HEADERS are cancelled.
    private func endQueuedStreams(after lastStreamID: Int32) {
        let queued = streams.filter { $0.key > lastStreamID && !$0.value.headersSent }
        for (id, stream) in queued {
            streams[id] = nil
            session?.submitReset(streamID: id, errorCode: Nghttp2ErrorCode.cancel)
            end(
                stream,
                RPCStatus(code: .unavailable, message: "the server at \(address.hostAndPort) is going away (GOAWAY) before the call started"),
                unprocessed: true, failing: ClientStream.endedError)
        }
        if !queued.isEmpty { scheduleFlush() }
    }

    /// Orderly close from the transport: no new streams; close when the last one ended.
    func drain() {
        assert(loop.inEventLoop)
        if !draining {
            draining = true
            pool.connectionDraining(self)
        }
        if streams.isEmpty {
            close()
        } else {
            session?.submitGoAway(lastStreamID: 0)
            scheduleFlush()
        }
    }

    override func didFlush() {
        if draining, streams.isEmpty, !(session?.wantsWrite ?? false) { close() }
    }

    override func connectionDidClose(_ error: HTTP2TransportError?) {
        connectTimer?.cancel()
        let reason = error.map { RPCError(code: .unavailable, message: "the connection to \(address.hostAndPort) failed: \($0.message)") }
            ?? RPCError(code: .unavailable, message: "the connection to \(address.hostAndPort) closed")
        closeReason = reason
        readiness.fail(reason)
        let open = streams
        streams.removeAll()
        for stream in open.values {
            // A stream whose HEADERS never left nghttp2's queue never reached the server.
            end(stream, reason.status, unprocessed: !stream.headersSent, failing: reason)
        }
        pool.connectionClosed(self, wasReady: ready, error: reason, unresponsive: error?.code == .peerUnresponsive)
    }
}
