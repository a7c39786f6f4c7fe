import Synchronization

/// A plain HTTP/1.1 listener serving `GET /metrics` (Prometheus text from `render`) on its own
/// thread, apart from the HTTP/2 event loops.
///
/// One thread polls the listener, an eventfd (for `stop`) and every open connection; each
/// connection reads one request head (at most `maxRequestBytes`), gets one response and is
/// closed. At most `maxConnections` are open at once, and a connection that has not finished
/// within `connectionTimeout` is dropped. The listener is always served: a new connection that
/// finds the endpoint full drops the open connection that has waited longest for its request
/// head (else the oldest answered one still draining, else the oldest one being answered), so
/// slow or silent clients, however many, cannot keep a scrape waiting; a connection has at
/// least one turn of the loop to send its head before a newer one may drop it. Memory and
/// threads stay bounded: one thread, at most `maxConnections` heads and responses.
/// Answers: 200 for `GET`/`HEAD /metrics`, 404 other paths, 405 other methods, 400 malformed
/// requests, 431 oversized heads.
public final class MetricsEndpoint: Sendable {
    /// The address the listener is bound to.
    public let host: String
    /// The bound port (the real one when 0 was asked for).
    public let port: Int
    /// `host:port` as a URL authority.
    public var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Limits of one endpoint.
    public struct Limits: Sendable {
        /// Connections open at once; a further one drops the oldest still waiting for its request.
        public var maxConnections = 16
        /// The largest request head read; a longer one gets 431.
        public var maxRequestBytes = 8 * 1024
        /// How long a connection may take from accept to its response being written.
        public var connectionTimeout: Duration = .seconds(5)

        public init() {}
    }

    private let loop: EndpointLoop
    private let thread: OSThread
    private let stopped = Mutex(false)

    /// Binds `host:port` (numeric or `localhost`; port 0 picks a free port) and starts serving.
    /// `render` runs on the endpoint's thread for every scrape.
    public init(
        host: String, port: Int, limits: Limits = Limits(),
        contentType: String = "text/plain; version=0.0.4; charset=utf-8",
        render: @escaping @Sendable () -> String
    ) throws(HTTP2TransportError) {
        let address = try SocketAddress(host: host, port: port)
        let fd = try Socket.listen(on: address, backlog: 64)
        let loop: EndpointLoop
        do {
            loop = try EndpointLoop(listenFD: fd, limits: limits, contentType: contentType, render: render)
        } catch {
            System.close(fd)
            throw error
        }
        self.host = address.host
        self.port = Socket.localAddress(fd)?.port ?? address.port
        self.loop = loop
        do {
            self.thread = try OSThread.spawn(name: "capstan-metrics") { loop.run() }
        } catch {
            System.close(fd)  // only the loop's thread closes it, and it never started
            throw error
        }
    }

    /// Stops accepting, drops open connections, and returns once the thread has ended. Idempotent.
    public func stop() {
        let first = stopped.withLock { stopped in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        loop.wake.signal()
        thread.join()
    }

    deinit { stop() }
}

/// The endpoint's thread and everything it owns.
///
/// `@unchecked Sendable`: `connections` and the descriptors are touched only by the endpoint's
/// thread inside `run()`; other threads only call `wake.signal()` (a write to an eventfd) and
/// read the immutable configuration.
private final class EndpointLoop: @unchecked Sendable {
    private final class Connection {
        let fd: Int32
        var deadline: ContinuousClock.Instant
        /// The loop turn that accepted it: a connection is not dropped for a newer one in the turn
        /// it was accepted, so it gets a turn to send its head.
        let acceptedInTurn: UInt64
        var input: [UInt8] = []
        var output: [UInt8]?
        var written = 0
        /// The response is out and the write side shut: reading what the peer still sends until it
        /// closes, so closing cannot reset the connection before the peer read the response.
        var draining = false

        init(fd: Int32, deadline: ContinuousClock.Instant, acceptedInTurn: UInt64) {
            self.fd = fd
            self.deadline = deadline
            self.acceptedInTurn = acceptedInTurn
        }
    }

    let wake: EventFD
    private let listenFD: Int32
    private let limits: MetricsEndpoint.Limits
    private let contentType: String
    private let render: @Sendable () -> String
    private var connections: [Connection] = []
    /// After a failed `accept` (e.g. out of descriptors) the listener is left alone until then,
    /// so a persistent failure does not spin the thread.
    private var acceptPausedUntil: ContinuousClock.Instant?
    /// Counts the loop's turns (see `Connection.acceptedInTurn`).
    private var turn: UInt64 = 0

    init(
        listenFD: Int32, limits: MetricsEndpoint.Limits, contentType: String, render: @escaping @Sendable () -> String
    ) throws(HTTP2TransportError) {
        self.wake = try EventFD()
        self.listenFD = listenFD
        self.limits = limits
        self.contentType = contentType
        self.render = render
    }

    func run() {
        defer {
            for connection in connections { System.close(connection.fd) }
            connections.removeAll()
            System.close(listenFD)
        }
        while true {
            turn &+= 1
            var waits = [PlainIO.Wait(fd: wake.fd, interest: .read)]
            if let paused = acceptPausedUntil, paused <= .now { acceptPausedUntil = nil }
            let accepting = acceptPausedUntil == nil
            if accepting {
                waits.append(PlainIO.Wait(fd: listenFD, interest: .read))
            }
            for connection in connections {
                waits.append(PlainIO.Wait(fd: connection.fd, interest: connection.output == nil || connection.draining ? .read : .write))
            }
            do {
                try PlainIO.poll(&waits, timeoutMilliseconds: timeout())
            } catch {
                return  // poll itself failing means the endpoint cannot go on
            }
            if waits[0].ready.contains(.read) { return }
            let open = connections
            for (index, connection) in open.enumerated() {
                let wait = waits[index + (accepting ? 2 : 1)]
                if wait.failed || !wait.ready.isEmpty { service(connection) }
            }
            expire()
            if accepting, waits[1].ready.contains(.read) { acceptAll() }
        }
    }

    /// Milliseconds until the earliest connection deadline or the end of an accept pause, or -1.
    private func timeout() -> Int32 {
        guard let earliest = (connections.map(\.deadline) + [acceptPausedUntil].compactMap { $0 }).min() else {
            return -1
        }
        let remaining = ContinuousClock.now.duration(to: earliest)
        let millis = remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000
        return Int32(clamping: max(millis + 1, 0))
    }

    /// Accepts what waits in the backlog, dropping older connections to make room (see the type's
    /// notes); what finds no room stays in the backlog for the next turn.
    private func acceptAll() {
        while true {
            // Full, with nothing from an earlier turn to replace: the newcomer waits in the backlog.
            let victim = connections.count >= limits.maxConnections ? newcomersVictim() : nil
            if connections.count >= limits.maxConnections && victim == nil { return }
            do {
                // Accepted first, so that a victim is dropped only for a connection that came.
                guard let accepted = try Socket.accept(listenFD) else { return }
                if let victim { close(victim) }
                connections.append(Connection(
                    fd: accepted.fd, deadline: .now + limits.connectionTimeout, acceptedInTurn: turn))
            } catch {
                acceptPausedUntil = .now + .milliseconds(100)
                return
            }
        }
    }

    /// The connection a newcomer replaces: the one waiting longest for its request head, else
    /// the oldest draining, else the oldest being answered; never one accepted this turn.
    /// (Connections are kept in accept order.)
    private func newcomersVictim() -> Connection? {
        let candidates = connections.filter { $0.acceptedInTurn != turn }
        return candidates.first { $0.output == nil } ?? candidates.first { $0.draining } ?? candidates.first
    }

    private func expire() {
        let now = ContinuousClock.now
        connections.removeAll { connection in
            guard connection.deadline <= now else { return false }
            System.close(connection.fd)
            return true
        }
    }

    private func close(_ connection: Connection) {
        System.close(connection.fd)
        connections.removeAll { $0 === connection }
    }

    /// Reads or writes what the connection is ready for; closes it when done or broken.
    private func service(_ connection: Connection) {
        do {
            if connection.draining {
                var scratch: [UInt8] = []
                while true {
                    guard let count = try PlainIO.read(connection.fd, appendingTo: &scratch, limit: 16 * 1024) else {
                        return  // nothing more yet
                    }
                    if count == 0 {
                        close(connection)  // the peer closed its side too
                        return
                    }
                    scratch.removeAll(keepingCapacity: true)
                }
            }
            if connection.output == nil {
                let room = limits.maxRequestBytes + 1 - connection.input.count
                guard let count = try PlainIO.read(connection.fd, appendingTo: &connection.input, limit: room) else {
                    return
                }
                let tooLarge = connection.input.count > limits.maxRequestBytes
                let parse = PlainHTTPRequest.parse(connection.input)
                if count == 0, parse == .incomplete, !tooLarge {
                    close(connection)  // the peer gave up before finishing its request
                    return
                }
                guard let response = MetricsRoute.respond(
                    to: parse, headTooLarge: tooLarge && parse == .incomplete, contentType: contentType, render: render)
                else { return }
                connection.output = response.serialized
            }
            guard let output = connection.output else { return }
            while connection.written < output.count {
                guard let count = try PlainIO.write(connection.fd, output, from: connection.written) else { return }
                connection.written += count
            }
            PlainIO.shutdownWrite(connection.fd)
            connection.draining = true
            connection.deadline = min(connection.deadline, .now + .seconds(1))
        } catch {
            close(connection)
        }
    }
}
