public import CapstanRPC
import Synchronization

/// gRPC over HTTP/2 (cleartext, prior knowledge) on nghttp2: a `ServerTransport` for `RPCServer`.
///
/// `init` binds the socket (port 0 picks a free port, see `localPort`); `listen` accepts
/// connections onto the group's loops until `beginGracefulShutdown`: then the listener closes,
/// every connection sends GOAWAY, calls in flight finish, and `listen` returns once the last
/// connection closed and the last handler returned. Cancelling the task in `listen` closes
/// everything at once (handlers are cancelled).
///
/// Each call's handler runs in a task of its own that prefers the connection's loop; those tasks
/// are reused from call to call (`HandlerWorkers`), and a call with a deadline is ended by the
/// loop's deadline queue (`ServerCallControl`), so neither costs a task per call. Served by
/// `RPCServer`, a unary method with an immediate handler (`ImmediateMethod`) is started only
/// once the client half-closed, and answered then on the loop with no task when it can be.
public final class HTTP2ServerTransport: ServerTransport, ImmediateCallTransport {
    /// How many descriptors under RLIMIT_NOFILE connections leave free for the rest of the
    /// process: past that, one waiting connection is accepted and closed at once every 100 ms
    /// (its client fails instead of hanging), until descriptors are free again.
    public static var descriptorReserve: Int { Int(Listener.descriptorReserve) }

    public struct Configuration: Sendable {
        /// SETTINGS_MAX_CONCURRENT_STREAMS per connection; further streams are refused
        /// (RST_STREAM REFUSED_STREAM).
        public var maxConcurrentStreams: Int = 100
        /// The largest request message accepted; larger ones fail the call with RESOURCE_EXHAUSTED.
        public var maxReceiveMessageSize: Int = 4 * 1024 * 1024
        /// PING after this long without inbound traffic; close when unanswered. `nil`: none.
        public var keepalive: Keepalive? = Keepalive(interval: .seconds(7200), timeout: .seconds(20))
        /// The kernel's keepalive on accepted connections, as Go's servers (etcd,
        /// kube-apiserver) set it: a probe after 15 s of silence, then every 15 s; a peer that
        /// answered none of 9 is dropped, so one that vanished (its watches quiet) frees its
        /// streams and descriptor within about 2.5 minutes instead of the 2 h PING. `nil`: off.
        public var tcpKeepalive: TCPKeepalive? = TCPKeepalive(idle: .seconds(15), interval: .seconds(15), count: 9)
        /// A connection whose client preface and first SETTINGS have not arrived this long after
        /// it was accepted is closed, so silent or half-open sockets cannot hold descriptors
        /// (gRPC's servers do the same, with 120 s). `nil`: never.
        public var handshakeTimeout: Duration? = .seconds(20)
        /// A stream whose client takes none of the response queued for it for this long (its
        /// flow-control window stays shut, or it stopped reading) is reset and its call ended
        /// RESOURCE_EXHAUSTED, so a client that stops reading cannot hold responses in memory, or
        /// a watch's place, for ever. Likewise a call whose client sends nothing more of its
        /// request for this long while the server holds part of it (a message begun and not
        /// finished, or a held unary call's message without the half-close) fails
        /// RESOURCE_EXHAUSTED. Checked every quarter of it (so a stalled stream is reset within
        /// 1¼ times this). `nil`: never.
        public var sendStallTimeout: Duration? = .seconds(60)
        /// SETTINGS_INITIAL_WINDOW_SIZE: what a client may send on one stream before the
        /// handler reads.
        public var initialStreamWindowSize: Int = 1024 * 1024
        /// The connection-level receive window.
        public var connectionWindowSize: Int = 16 * 1024 * 1024
        /// SETTINGS_MAX_HEADER_LIST_SIZE.
        public var maxHeaderListSize: Int = 16 * 1024
        /// Bytes of response messages a stream queues before `writeMessage` suspends.
        public var outboundBufferSize: Int = 64 * 1024
        /// Response bytes one connection may hold queued and not yet sent (its client does not
        /// read them, or keeps its flow-control windows shut). A response that would take the
        /// connection past it fails its call with RESOURCE_EXHAUSTED instead of being queued,
        /// unless nothing else is queued on the connection (one response always goes). Bytes
        /// that wait only for a reading client's windows count too: such a client meets it with
        /// more than 40 List pages of 3 MiB in flight on one connection. `nil`: no limit.
        public var connectionOutboundLimit: Int? = 128 * 1024 * 1024
        /// Response bytes all connections of one event loop may hold queued. Past it, responses
        /// on connections that hold `outboundShareFloor` bytes or more fail as above, so clients
        /// that read what they get keep being served. `nil`: no limit.
        public var loopOutboundLimit: Int? = 256 * 1024 * 1024
        /// See `loopOutboundLimit`.
        public var outboundShareFloor: Int = 1024 * 1024
        /// Bytes of request messages one connection's streams may hold begun and not yet
        /// complete (each stream may take up to `maxReceiveMessageSize` of the window for its
        /// next message, so without this 100 streams could hold 400 MiB). A DATA frame that takes
        /// the connection past it fails its call with RESOURCE_EXHAUSTED. `nil`: no limit.
        public var connectionInboundLimit: Int? = 16 * 1024 * 1024
        /// Unfinished request bytes all connections of one event loop may hold. Past it, calls
        /// on connections that hold `inboundShareFloor` bytes or more fail as above. `nil`: no limit.
        public var loopInboundLimit: Int? = 128 * 1024 * 1024
        /// See `loopInboundLimit`.
        public var inboundShareFloor: Int = 1024 * 1024
        /// Bytes of complete request messages a stream buffers before it stops returning window
        /// (each message counts 64 bytes more, for its bookkeeping).
        public var inboundBufferSize: Int = 64 * 1024
        /// Told, on the listener's loop, when accepting connections stops for want of resources
        /// (the reason, such as the descriptor limit) and when it works again (nil): once per
        /// episode, however many times accepting pauses in it. At the descriptor limit a waiting
        /// connection is accepted and closed every 100 ms; when `accept` itself fails (EMFILE,
        /// ENOBUFS) waiting connections stay queued, which clients see as connects that hang.
        public var acceptTrouble: (@Sendable (_ reason: String?) -> Void)?

        public init() {}

        public static var defaults: Configuration { Configuration() }
    }

    public let configuration: Configuration
    public let group: EventLoopGroup
    /// The bound address as `host:port` (`[::1]:port` for IPv6).
    public let localAddress: String
    /// The bound port (the one the kernel picked when asked for port 0).
    public let localPort: Int

    private struct State {
        var listenFD: Int32?
        var listener: Listener?
        var listening = false
        var shuttingDown = false
        var listenerClosed = false
        var connections: [ObjectIdentifier: ServerConnection] = [:]
        var done: CheckedContinuation<Void, Never>?
        var handler: StreamHandlerBox?
    }

    /// The handler inside a struct: a function value taken out of the lock directly (through
    /// `withLock`'s generic result) comes back wrapped in a reabstraction thunk, one more async
    /// frame and executor check on every call.
    private struct StreamHandlerBox {
        let run: ServerStreamHandler
        let immediateMethods: [String: ImmediateMethod]
    }

    private let state = Mutex(State())
    /// The handler tasks of each loop of `group`, in the group's order.
    private let workers: [HandlerWorkers]
    /// The response bytes queued on each loop of `group`, in the group's order.
    let loopByteLedgers: [ByteLedger]
    /// The unfinished request bytes held on each loop of `group`, in the group's order.
    let loopInboundLedgers: [ByteLedger]
    /// Handlers running (an atomic: every call changes it twice, from every loop).
    private let handlers = Atomic<Int>(0)
    /// `ServerStream` objects alive, open or not (counted in debug builds only, for tests).
    let streamObjects = Atomic<Int>(0)

    /// Binds `host:port` (numeric IPv4/IPv6 or `localhost`; port 0: any free port).
    public init(
        host: String = "127.0.0.1",
        port: Int = 0,
        configuration: Configuration = .defaults,
        group: EventLoopGroup
    ) throws(HTTP2TransportError) {
        self.configuration = configuration
        self.group = group
        workers = group.loops.map { HandlerWorkers(loop: $0) }
        loopByteLedgers = group.loops.map { _ in ByteLedger() }
        loopInboundLedgers = group.loops.map { _ in ByteLedger() }
        let address = try SocketAddress(host: host, port: port)
        let fd = try Socket.listen(on: address)
        guard let bound = Socket.localAddress(fd) else {
            System.close(fd)
            throw HTTP2TransportError(.systemCall, "getsockname failed for the listening socket")
        }
        localAddress = bound.hostAndPort
        localPort = bound.port
        state.withLock { $0.listenFD = fd }
    }

    deinit {
        // A transport that never listened still owns its socket.
        if let fd = state.withLock({ $0.listenFD }) { System.close(fd) }
    }

    public func listen(_ handler: @escaping ServerStreamHandler) async throws {
        try await listen(StreamHandlerBox(run: handler, immediateMethods: [:]))
    }

    package func listen(
        _ handler: @escaping ServerStreamHandler, immediateMethods: [String: ImmediateMethod]
    ) async throws {
        try await listen(StreamHandlerBox(run: handler, immediateMethods: immediateMethods))
    }

    private func listen(_ handler: StreamHandlerBox) async throws {
        let loop = group.next()
        let start: Listener? = try state.withLock { (state) throws(HTTP2TransportError) -> Listener? in
            guard !state.listening else { throw HTTP2TransportError(.invalidUse, "listen was already called") }
            state.listening = true
            state.handler = handler
            guard let fd = state.listenFD else { return nil }
            state.listenFD = nil
            if state.shuttingDown {
                System.close(fd)
                state.listenerClosed = true
                return nil
            }
            let listener = Listener(fd: fd, loop: loop, transport: self)
            state.listener = listener
            return listener
        }
        if let start { loop.execute { start.start() } }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let finished = state.withLock { state in
                    if isDone(state) { return true }
                    state.done = continuation
                    return false
                }
                if finished { continuation.resume() }
            }
        } onCancel: {
            shutDown(abortively: true)
        }
    }

    public func beginGracefulShutdown() {
        shutDown(abortively: false)
    }

    private func shutDown(abortively: Bool) {
        let (listener, connections, closeFD): (Listener?, [ServerConnection], Int32?) = state.withLock { state in
            let first = !state.shuttingDown
            state.shuttingDown = true
            var closeFD: Int32?
            if !state.listening, let fd = state.listenFD {
                // Never listened: nothing to drain.
                state.listenFD = nil
                state.listenerClosed = true
                closeFD = fd
            }
            return (first ? state.listener : nil, Array(state.connections.values), closeFD)
        }
        if let closeFD { System.close(closeFD) }
        if let listener { listener.loop.execute { listener.close() } }
        for connection in connections {
            connection.loop.execute {
                if abortively {
                    connection.close(HTTP2TransportError(.shutDown, "the server is shutting down"))
                } else {
                    connection.beginGracefulShutdown()
                }
            }
        }
        resumeIfDone()
    }

    private func isDone(_ state: State) -> Bool {
        state.shuttingDown && state.listenerClosed && state.connections.isEmpty
            && handlers.load(ordering: .acquiring) == 0
    }

    private func resumeIfDone() {
        let done: CheckedContinuation<Void, Never>? = state.withLock { state in
            guard isDone(state), let done = state.done else { return nil }
            state.done = nil
            state.listener = nil
            state.handler = nil
            return done
        }
        guard let done else { return }
        // No handler runs any more: the idle handler tasks end.
        for pool in workers { pool.loop.execute { pool.drain() } }
        done.resume()
    }

    // MARK: From the loops

    /// A socket was accepted: it becomes a connection on the next loop.
    func accepted(fd: Int32, peer: SocketAddress?) {
        guard let handler = state.withLock({ $0.handler }) else {
            System.close(fd)
            return
        }
        let loop = group.next()
        let configuration = configuration
        let index = group.loops.firstIndex { $0 === loop }
        let workers = index.map { self.workers[$0] } ?? HandlerWorkers(loop: loop)
        let loopLedger = index.map { loopByteLedgers[$0] } ?? ByteLedger()
        let loopInbound = index.map { loopInboundLedgers[$0] } ?? ByteLedger()
        let open: @Sendable () -> Void = { [self] in
            let connection = ServerConnection(
                loop: loop, fd: fd, peer: peer?.description ?? "unknown", transport: self,
                configuration: configuration, handler: handler.run, immediateMethods: handler.immediateMethods,
                workers: workers, loopOutbound: loopLedger, loopInbound: loopInbound)
            let admitted = state.withLock { state in
                guard !state.shuttingDown else { return false }
                state.connections[ObjectIdentifier(connection)] = connection
                return true
            }
            guard admitted else {
                System.close(fd)
                return
            }
            do {
                try connection.start()
            } catch {
                connectionClosed(connection)
            }
        }
        if loop.inEventLoop { open() } else { loop.execute(open) }
    }

    func listenerClosed() {
        state.withLock { $0.listenerClosed = true }
        resumeIfDone()
    }

    func connectionClosed(_ connection: ServerConnection) {
        state.withLock { _ = $0.connections.removeValue(forKey: ObjectIdentifier(connection)) }
        resumeIfDone()
    }

    func handlerStarted() {
        handlers.add(1, ordering: .relaxed)
    }

    func handlerFinished() {
        // Only the last handler of a shutdown has anything to resume (the check then takes the
        // lock; `isDone` reads the count under it, so a concurrent shutdown cannot miss it).
        if handlers.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { resumeIfDone() }
    }

    // MARK: Diagnostics (tests)

    /// Connections open now (accepted and not yet closed).
    public var connectionCount: Int { state.withLock { $0.connections.count } }

    /// Handlers running.
    var activeHandlerCount: Int { handlers.load(ordering: .acquiring) }

    /// The connections, for tests that inspect them on their loops.
    var openConnections: [ServerConnection] { state.withLock { Array($0.connections.values) } }

    /// Idle handler tasks and armed call deadlines over all loops (for tests).
    func handlerTaskDiagnostics() async -> (idleTasks: Int, armedDeadlines: Int) {
        var idle = 0
        var armed = 0
        for pool in workers {
            let (i, a) = await withCheckedContinuation { (continuation: CheckedContinuation<(Int, Int), Never>) in
                pool.loop.execute { continuation.resume(returning: (pool.idleCount, pool.loop.armedDeadlineCount)) }
            }
            idle += i
            armed += a
        }
        return (idle, armed)
    }

    /// The most bytes any stream of an open connection had queued for sending (for tests).
    func outboundHighWaterMark() async -> Int {
        var result = 0
        for connection in openConnections {
            let mark = await withCheckedContinuation { (continuation: CheckedContinuation<Int, Never>) in
                connection.loop.execute { continuation.resume(returning: connection.outboundHighWaterMark) }
            }
            result = max(result, mark)
        }
        return result
    }
}
