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
                // ECONNABORTED, EMFILE and the like: skip this round; the socket stays readable.
                return
            }
            guard let accepted else { return }
            guard let transport else {
                System.close(accepted.fd)
                return
            }
            transport.accepted(fd: accepted.fd, peer: accepted.peer)
        }
    }

    /// Stops accepting and closes the socket. Idempotent.
    func close() {
        assert(loop.inEventLoop)
        guard !isClosed else { return }
        isClosed = true
        if registered { loop.deregister(fd: fd, token: token) }
        System.close(fd)
        transport?.listenerClosed()
    }

    func loopWillClose() {
        close()
    }
}
