import Glibc

/// The listening socket of an `HTTP2ServerTransport`, registered on one loop; accepted sockets
/// go to the group's loops round robin.
///
/// Safety of `@unchecked Sendable`: `token` and `isClosed` are touched only on `loop`'s thread;
/// other threads only call `loop.execute { listener.close() }`.
final class Listener: IOHandler, @unchecked Sendable {
    let fd: Int32
    let loop: EventLoop
    /// Weak: the transport owns the listener while `listen` runs; a late event after that is dropped.
    private weak var transport: HTTP2ServerTransport?
    private var token: UInt64 = 0
    private var registered = false
    private(set) var isClosed = false
    /// Set while accepting is paused after a failed `accept` (see `pauseAccepting`).
    private var resumeTimer: EventLoopTimer?
    /// Set from the first pause for want of resources until a connection is accepted a second
    /// or more after the last pause (`Configuration.acceptTrouble` is told once per episode,
    /// not at every pause while descriptors come and go near the limit).
    private var troubled = false
    private var lastPause = ContinuousClock.now

    /// How long accepting pauses after `accept` failed for want of resources (descriptors,
    /// memory): the socket stays readable, so retrying at once would spin the loop.
    static let acceptPause: Duration = .milliseconds(100)

    /// Descriptors connections may not take (at most a quarter of the limit): the last ones
    /// under RLIMIT_NOFILE stay free for what else the process opens (the store's files and
    /// connections, name resolution, and the Swift runtime's own reads of /proc: libdispatch
    /// traps when it cannot open them). The
    /// kernel hands out the lowest free descriptor, so a connection accepted at or above
    /// `descriptorCeiling` means fewer than this many are left: it is closed at once and
    /// accepting pauses, as when `accept` itself fails; the rest wait in the listen queue.
    static let descriptorReserve: Int32 = 32

    /// The soft RLIMIT_NOFILE when the listener started (nil: unlimited or unknown).
    private let descriptorLimit: Int32? = {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }
        return Int32(clamping: limit.rlim_cur)
    }()

    /// The lowest descriptor a connection may not keep (see `descriptorReserve`).
    private var descriptorCeiling: Int32 {
        guard let soft = descriptorLimit else { return Int32.max }
        // Under a very low limit, a quarter of it: connections still get the rest.
        return soft - min(Listener.descriptorReserve, soft / 4)
    }

    init(fd: Int32, loop: EventLoop, transport: HTTP2ServerTransport) {
        self.fd = fd
        self.loop = loop
        self.transport = transport
    }

    func start() {
        assert(loop.inEventLoop)
        guard !isClosed else { return }
        do {
            token = try loop.register(fd: fd, interest: .read, handler: self)
            registered = true
        } catch {
            close()
        }
    }

    func ioReady(readable: Bool, writable: Bool, failed: Bool) {
        // A bounded batch per wake-up keeps the loop responsive under a connection storm.
        for _ in 0..<128 {
            guard !isClosed else { return }
            let accepted: (fd: Int32, peer: SocketAddress?)?
            do {
                accepted = try Socket.accept(fd)
            } catch {
                // A connection reset while queued is gone; the next one may be fine.
                if error.errno == ECONNABORTED || error.errno == EPROTO { continue }
                // EMFILE, ENFILE, ENOBUFS, ENOMEM: the queue is still there, but retrying now fails
                // again; pause instead of spinning while the socket stays readable.
                pauseAccepting(because: "accept failed: \(System.describe(errno: error.errno ?? 0))")
                return
            }
            guard let accepted else { return }
            if accepted.fd >= descriptorCeiling {
                System.close(accepted.fd)
                pauseAccepting(
                    because: "the process is near its open-file limit (RLIMIT_NOFILE \(descriptorLimit.map(String.init) ?? "unlimited"), "
                        + "less descriptors kept for the store): raise it (ulimit -n), or close idle connections")
                return
            }
            guard let transport else {
                System.close(accepted.fd)
                return
            }
            if troubled, lastPause.duration(to: .now) >= .seconds(1) {
                troubled = false
                transport.configuration.acceptTrouble?(nil)
            }
            transport.accepted(fd: accepted.fd, peer: accepted.peer)
        }
    }

    /// Stops watching the socket for `acceptPause`, then watches it again; the first pause of an
    /// episode tells `Configuration.acceptTrouble` why.
    private func pauseAccepting(because reason: String) {
        lastPause = .now
        if !troubled {
            troubled = true
            transport?.configuration.acceptTrouble?(
                "not accepting connections for now, \(reason); waiting connections are refused or wait")
        }
        guard registered, resumeTimer == nil else { return }
        do {
            try loop.setInterest(fd: fd, token: token, interest: [])
        } catch {
            return
        }
        resumeTimer = loop.scheduleTimerOnLoop(after: Self.acceptPause) { [self] in
            resumeTimer = nil
            guard !isClosed else { return }
            try? loop.setInterest(fd: fd, token: token, interest: .read)
        }
    }

    /// Stops accepting and closes the socket. Idempotent.
    func close() {
        assert(loop.inEventLoop)
        guard !isClosed else { return }
        isClosed = true
        resumeTimer?.cancel()
        resumeTimer = nil
        if registered { loop.deregister(fd: fd, token: token) }
        System.close(fd)
        transport?.listenerClosed()
    }

    func loopWillClose() {
        close()
    }
}
