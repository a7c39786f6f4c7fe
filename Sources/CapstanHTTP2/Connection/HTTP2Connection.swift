/// Keepalive: a PING after `interval` without inbound traffic; no ACK within `timeout` closes.
public struct Keepalive: Sendable, Hashable {
    public var interval: Duration
    public var timeout: Duration
    /// Whether a connection with no open stream pings too. gRPC servers such as etcd's count
    /// such pings against the client and close the connection ("too_many_pings") after a few.
    public var pingsWithoutStreams: Bool

    public init(interval: Duration, timeout: Duration, pingsWithoutStreams: Bool = true) {
        self.interval = interval
        self.timeout = timeout
        self.pingsWithoutStreams = pingsWithoutStreams
    }
}

/// The kernel's TCP keepalive for a connection (see `Socket.setKeepalive`): it finds a peer that
/// vanished (power cut, a dropped route) on a connection with nothing to send, without waking
/// the process; whole seconds, at least 1.
public struct TCPKeepalive: Sendable, Hashable {
    public var idle: Duration
    public var interval: Duration
    public var count: Int

    public init(idle: Duration, interval: Duration, count: Int) {
        self.idle = idle
        self.interval = interval
        self.count = count
    }
}

/// One HTTP/2 connection on one loop: its socket, its nghttp2 `Session`, buffered output and
/// keepalive. `ServerConnection` and `ClientConnection` add the streams.
///
/// The socket is read into the loop's shared buffer and fed to nghttp2 at once; output is
/// produced (into the loop's shared write buffer) and written once per loop tick
/// (`scheduleFlush`), after the tick's handler jobs have run, so a batch of responses leaves in
/// as few `send` calls as possible. When the socket is full, what it did not take moves to a
/// buffer of the connection's own, output waits for EPOLLOUT and nghttp2 is not asked for more.
///
/// The byte-stream seam (`readAvailable` / `writeOut`) is where a TLS layer would sit.
///
/// Safety of `@unchecked Sendable`: every stored property is read and written on `loop`'s thread
/// only (methods assert `loop.inEventLoop`); other threads hold a reference only to hand work to
/// the loop with `loop.execute`.
class HTTP2Connection: SessionDelegate, IOHandler, @unchecked Sendable {
    let loop: EventLoop
    let fd: Int32
    /// The peer in gRPC notation, e.g. `ipv4:127.0.0.1:51234`.
    let peer: String
    private var token: UInt64 = 0
    private(set) var session: Session?
    /// Output the socket did not take yet (allocated only while the socket is full, so an idle
    /// connection holds no write buffer; output is produced into the loop's shared buffer).
    private var pending: WriteBuffer?
    private var watchingWritable = false
    private var flushScheduled = false
    private(set) var isClosed = false
    /// Why the delegate refused what the peer sent (see `SessionDelegate.sessionHeader`): the
    /// connection closes with this error rather than nghttp2's "callback failed".
    var receiveFailure: HTTP2TransportError?

    /// The most bytes (as SETTINGS_MAX_HEADER_LIST_SIZE counts them) one header block may decode
    /// to before the connection ends: 64 times the limit announced (1 MiB by default), as nghttp2
    /// takes at most 64 CONTINUATION frames. A block over the announced limit fails its stream
    /// alone; this bound is for HPACK references (one byte each on the wire, up to 4 KiB each
    /// decoded), whose decoding would otherwise cost thousands of times what they cost to send.
    static func headerBlockHardLimit(announced: Int) -> Int { max(announced, 1) * 64 }

    /// What one field adds to a header block's size, as SETTINGS_MAX_HEADER_LIST_SIZE counts it.
    static func headerFieldSize(name: HeaderBytes, value: HeaderBytes) -> Int { name.count + value.count + 32 }

    /// Depth of calls into nghttp2; a close requested inside one waits until it returns.
    private var sessionDepth = 0
    private var pendingClose: HTTP2TransportError??

    private let keepalive: Keepalive?
    private var keepaliveTimer: EventLoopTimer?
    private var pingTimeoutTimer: EventLoopTimer?
    /// When bytes last came in (keepalive pings only a connection quiet for its interval).
    private var lastRead = ContinuousClock.now

    /// Output is produced up to this many bytes before a write.
    private static let writeChunk = 64 * 1024

    init(loop: EventLoop, fd: Int32, peer: String, keepalive: Keepalive?) {
        self.loop = loop
        self.fd = fd
        self.peer = peer
        self.keepalive = keepalive
    }

    /// The settings this side announces; the subclass says.
    func makeSession() throws(HTTP2TransportError) -> Session {
        fatalError("subclasses create their session")
    }

    /// Registers the socket, creates the session and sends the preface/SETTINGS (once
    /// connected). On failure the descriptor is closed and `connectionDidClose` has run.
    func start(connected: Bool = true) throws(HTTP2TransportError) {
        assert(loop.inEventLoop)
        // Closed before it started (a client's drain queued ahead of its connect): the descriptor
        // is closed already, and its number may belong to another socket or file by now.
        guard !isClosed else {
            throw HTTP2TransportError(.connectionClosed, "the connection closed before it started")
        }
        do {
            token = try loop.register(fd: fd, interest: connected ? .read : [.read, .write], handler: self)
            watchingWritable = !connected
        } catch {
            System.close(fd)
            isClosed = true
            connectionDidClose(error)
            throw error
        }
        if connected { try startSession() }
    }

    /// The socket is connected: start speaking HTTP/2.
    func startSession() throws(HTTP2TransportError) {
        do {
            try Socket.setNoDelay(fd)
            session = try makeSession()
        } catch {
            close(error)
            throw error
        }
        if let keepalive { scheduleKeepalive(keepalive) }
        scheduleFlush()
    }

    // MARK: Closing

    /// Closes the socket and the session; streams are failed by `connectionDidClose`. `nil`
    /// means an orderly close. Safe to call inside session callbacks (it then waits).
    final func close(_ error: HTTP2TransportError? = nil) {
        assert(loop.inEventLoop)
        guard !isClosed else { return }
        if sessionDepth > 0 {
            if pendingClose == nil { pendingClose = .some(error) }
            return
        }
        isClosed = true
        keepaliveTimer?.cancel()
        pingTimeoutTimer?.cancel()
        loop.deregister(fd: fd, token: token)
        System.close(fd)
        pending = nil
        connectionDidClose(error)
        session?.close()
    }

    /// The connection closed (`error` nil for an orderly close): fail what is left. Subclasses
    /// override.
    func connectionDidClose(_ error: HTTP2TransportError?) {}

    /// Whether any stream is open (keepalive may skip idle connections); subclasses override.
    var hasStreams: Bool { true }

    /// A socket that is still connecting became writable (client only).
    func connectCompleted() {}

    func loopWillClose() {
        close(HTTP2TransportError(.shutDown, "the event loop stopped"))
    }

    // MARK: I/O

    func ioReady(readable: Bool, writable: Bool, failed: Bool) {
        if session == nil {
            // Still connecting: writability (or an error) says how that went.
            if writable || failed || readable { connectCompleted() }
            return
        }
        if readable || failed { readAvailable() }
        if writable, !isClosed { flush() }
    }

    private func readAvailable() {
        let buffer = loop.readBuffer
        // A few reads per readiness event keep one busy peer from starving the others.
        for _ in 0..<4 {
            guard !isClosed, let session else { return }
            let count: Int
            do {
                guard let read = try buffer.read(from: fd) else { break }
                count = read
            } catch {
                close(error)
                return
            }
            if count == 0 {
                close(HTTP2TransportError(.connectionClosed, "the peer closed the connection"))
                return
            }
            if keepalive != nil { lastRead = .now }
            do {
                try withSession { () throws(HTTP2TransportError) in try session.receive(buffer, count: count) }
            } catch {
                // Let nghttp2 send its GOAWAY if it queued one, then close.
                flush()
                close(receiveFailure ?? error)
                return
            }
            if count < buffer.capacity { break }
        }
        scheduleFlush()
    }

    /// Runs `body` (which calls into nghttp2), then performs a close requested meanwhile.
    final func withSession<Result>(_ body: () throws(HTTP2TransportError) -> Result) throws(HTTP2TransportError) -> Result {
        sessionDepth += 1
        defer {
            sessionDepth -= 1
            if sessionDepth == 0, let pending = pendingClose {
                pendingClose = nil
                close(pending)
            }
        }
        return try body()
    }

    /// Flushes at the end of this loop tick (once, however often it is asked).
    final func scheduleFlush() {
        assert(loop.inEventLoop)
        guard !flushScheduled, !isClosed else { return }
        flushScheduled = true
        loop.executeAtEndOfTick { [self] in flush() }
    }

    /// Writes what is buffered, then what nghttp2 has, until done or the socket is full.
    final func flush() {
        flushScheduled = false
        guard !isClosed, let session else { return }
        do {
            if let pending {
                guard try pending.write(to: fd) else {
                    try watchWritable(true)
                    return
                }
                self.pending = nil
            }
            // The loop's buffer is empty whenever no flush is running (flushes do not nest:
            // nghttp2 callbacks only schedule them), and this one leaves it empty too.
            let output = loop.writeBuffer
            while true {
                let more = try withSession { () throws(HTTP2TransportError) in
                    try session.produceOutput(into: output, limit: Self.writeChunk)
                }
                if output.isEmpty, !more { break }
                // (A failed write leaves bytes behind: the `catch` below empties the buffer.)
                guard try output.write(to: fd) else {
                    let rest = WriteBuffer(capacity: max(output.count, 4096))
                    output.moveUnwritten(to: rest)
                    pending = rest
                    try watchWritable(true)
                    return
                }
            }
            try watchWritable(false)
        } catch {
            loop.writeBuffer.reset()
            close(error)
            return
        }
        guard !isClosed else { return }
        if !session.wantsIO {
            close()
        } else {
            didFlush()
        }
    }

    /// Everything was written; subclasses check whether a draining connection can close.
    func didFlush() {}

    private func watchWritable(_ watch: Bool) throws(HTTP2TransportError) {
        guard watch != watchingWritable else { return }
        watchingWritable = watch
        try loop.setInterest(fd: fd, token: token, interest: watch ? [.read, .write] : .read)
    }

    // MARK: Keepalive

    /// The next look `after` from now. The look pings once the connection has been quiet for the
    /// whole interval, so a peer that stops answering is pinged `interval` after its last bytes
    /// and closed `timeout` later (a fixed tick that skipped any interval with a read would
    /// take up to twice the interval).
    private func scheduleKeepalive(_ keepalive: Keepalive, after delay: Duration? = nil) {
        // Timers hold the connection strongly until they fire or `close` cancels them.
        keepaliveTimer = loop.scheduleTimerOnLoop(after: delay ?? keepalive.interval) { [self] in
            keepaliveTick(keepalive)
        }
    }

    private func keepaliveTick(_ keepalive: Keepalive) {
        guard !isClosed, let session else { return }
        let quiet = lastRead.duration(to: .now)
        if quiet < keepalive.interval {
            scheduleKeepalive(keepalive, after: keepalive.interval - quiet)
            return
        }
        scheduleKeepalive(keepalive)
        guard pingTimeoutTimer == nil, keepalive.pingsWithoutStreams || hasStreams else { return }
        session.submitPing()
        scheduleFlush()
        pingTimeoutTimer = loop.scheduleTimerOnLoop(after: keepalive.timeout) { [self] in
            close(HTTP2TransportError(.peerUnresponsive, "keepalive: no PING acknowledgement within \(keepalive.timeout)"))
        }
    }

    /// A PING we sent was acknowledged; subclasses call `super`.
    override func sessionPingAcknowledged() {
        pingTimeoutTimer?.cancel()
        pingTimeoutTimer = nil
    }
}
