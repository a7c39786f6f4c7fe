internal import CapstanRPC
import Synchronization

/// The connections of an `HTTP2ClientTransport`: per target, the connections open or opening,
/// how many streams each carries (reserved when a call picks it, admitted once the connection
/// is ready and has room under the server's limit), the target's addresses (a DNS name's come
/// from the resolver) and its reconnect backoff. Calls prefer one target and fail over to the
/// next when it is unreachable; within a target, a failed connect moves on to the target's next
/// address before the target backs off.
final class ConnectionPool: Sendable {
    private struct Entry {
        let connection: ClientConnection
        /// Calls that picked this connection and have not ended (admitted or not yet).
        var reserved = 0
        /// Reserved calls admitted to start a stream (`admit`): only while fewer than `limit`,
        /// so nghttp2 does not hold a stream back behind the server's limit (behind long-lived
        /// watches, it could wait forever). A server that lowers its limit below the streams
        /// admitted keeps them (HTTP/2 lets them finish); no call is admitted here again until
        /// fewer than the new limit are. A stream admitted before a lower limit arrived but
        /// submitted after it still waits in nghttp2's queue; a GOAWAY or the connection's end
        /// fails it as unprocessed.
        var admitted = 0
        /// The server's SETTINGS_MAX_CONCURRENT_STREAMS as its latest SETTINGS announced it; until
        /// this connection learns it, the target's last known value, or no limit: calls made
        /// while connecting all reserve this connection, and those past the limit it learns are
        /// not admitted and pick again.
        var limit = Int.max
        var draining = false
    }

    private struct Target {
        let target: ClientTarget
        /// Where to connect: the numeric address, or a name's last resolved addresses.
        var addresses: [SocketAddress]
        /// The address the next connection goes to.
        var cursor = 0
        /// When a name was last resolved; nil: resolve before the next connection.
        var resolvedAt: ContinuousClock.Instant?
        var entries: [ObjectIdentifier: Entry] = [:]
        var backoffUntil: ContinuousClock.Instant?
        var nextDelay: Duration
        var lastError: RPCError?
        /// The stream limit the target's server announced last, on any of its connections: a
        /// new connection starts with it.
        var knownLimit: Int?
        /// The resolution of the name under way, which calls that need it wait for.
        var resolution: ReadinessLatch?

        init(_ target: ClientTarget, initialDelay: Duration) {
            self.target = target
            nextDelay = initialDelay
            if case .address(let address) = target { addresses = [address] } else { addresses = [] }
        }

        /// Connect attempts a call may make here before it moves on: one per address.
        var attemptsPerCall: Int { max(1, addresses.count) }

        func needsResolution(now: ContinuousClock.Instant, interval: Duration) -> (host: String, port: Int)? {
            guard case .name(let host, let port) = target else { return nil }
            if addresses.isEmpty { return (host, port) }
            guard let resolvedAt, resolvedAt.advanced(by: interval) > now else { return (host, port) }
            return nil
        }
    }

    private struct State {
        var targets: [Target]
        var preferred = 0
        var closed = false
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
        var connectionCount: Int { targets.reduce(0) { $0 + $1.entries.count } }
    }

    enum Pick {
        case use(ClientConnection, target: Int)
        /// A target's name is being resolved (on a thread of its own, see `NameResolver`): wait
        /// for that, then pick again.
        case resolve(ReadinessLatch)
        case fail(RPCError)
    }

    /// What `pick` starts once it let go of the lock.
    private enum Start {
        case connect(ClientConnection, connected: Bool)
        case resolve(target: Int, host: String, port: Int, ReadinessLatch)
    }

    /// How long a name's addresses are used before the next connection resolves it again.
    static let resolutionInterval: Duration = .seconds(30)

    private let state: Mutex<State>
    private let group: EventLoopGroup
    private let configuration: HTTP2ClientTransport.Configuration
    private let resolve: NameResolver.Resolve

    init(
        targets: [ClientTarget], configuration: HTTP2ClientTransport.Configuration, group: EventLoopGroup,
        resolve: @escaping NameResolver.Resolve = NameResolver.resolve
    ) {
        self.group = group
        self.configuration = configuration
        self.resolve = resolve
        state = Mutex(State(targets: targets.map { Target($0, initialDelay: configuration.backoff.initial) }))
    }

    /// A connection with room for one more stream (reserved for the caller), connecting a new
    /// one if needed; skips targets in backoff and those that already failed this call once per
    /// address (`attempts`: connect failures so far, by target).
    func pick(attempts: [Int: Int]) -> Pick {
        let (pick, start): (Pick, Start?) = state.withLock { state in
            if state.closed {
                return (.fail(RPCError(code: .unavailable, message: "the client transport is closed")), nil)
            }
            let now = ContinuousClock.now
            var lastError: RPCError?
            let count = state.targets.count
            for offset in 0..<count {
                let index = (state.preferred + offset) % count
                if attempts[index, default: 0] >= state.targets[index].attemptsPerCall {
                    lastError = state.targets[index].lastError ?? lastError
                    continue
                }
                if let until = state.targets[index].backoffUntil, until > now {
                    lastError = state.targets[index].lastError ?? lastError
                    continue
                }
                for (key, entry) in state.targets[index].entries where !entry.draining && entry.reserved < entry.limit {
                    state.targets[index].entries[key]!.reserved += 1
                    return (.use(entry.connection, target: index), nil)
                }
                if let (host, port) = state.targets[index].needsResolution(now: now, interval: Self.resolutionInterval) {
                    if let pending = state.targets[index].resolution { return (.resolve(pending), nil) }
                    let resolution = ReadinessLatch()
                    state.targets[index].resolution = resolution
                    return (.resolve(resolution), .resolve(target: index, host: host, port: port, resolution))
                }
                // A new connection; a socket that fails at once counts as a failed address.
                let target = state.targets[index]
                let address = target.addresses[target.cursor % target.addresses.count]
                do {
                    let (fd, connected) = try Socket.connect(to: address)
                    let connection = ClientConnection(
                        loop: group.next(), fd: fd, address: address, configuration: configuration, pool: self)
                    var entry = Entry(connection: connection)
                    entry.reserved = 1
                    entry.limit = target.knownLimit ?? Int.max
                    state.targets[index].entries[ObjectIdentifier(connection)] = entry
                    return (.use(connection, target: index), .connect(connection, connected: connected))
                } catch {
                    let failure = RPCError(code: .unavailable, message: "cannot connect to \(address.hostAndPort): \(error)")
                    Self.addressFailed(&state, index, address, failure, now: now, configuration: configuration)
                    lastError = failure
                }
            }
            let message = lastError.map { "no target is reachable; last error: \($0.message)" } ?? "no target is reachable"
            return (.fail(RPCError(code: .unavailable, message: message)), nil)
        }
        switch start {
        case .connect(let connection, let connected)?:
            connection.loop.execute { connection.connect(connected: connected) }
        case .resolve(let index, let host, let port, let resolution)?:
            NameResolver.start(host: host, port: port, using: resolve) { [self] result in
                resolved(target: index, result, by: resolution)
                resolution.succeed()
            }
        case nil:
            break
        }
        return pick
    }

    /// Records the outcome of resolving target `index`'s name; a failure backs the target off.
    private func resolved(target index: Int, _ result: Result<[SocketAddress], HTTP2TransportError>, by resolution: ReadinessLatch) {
        state.withLock { state in
            if state.targets[index].resolution === resolution { state.targets[index].resolution = nil }
            let now = ContinuousClock.now
            switch result {
            case .success(let addresses):
                if addresses != state.targets[index].addresses {
                    state.targets[index].addresses = addresses
                    state.targets[index].cursor = 0
                }
                state.targets[index].resolvedAt = now
            case .failure(let error):
                Self.backOff(&state, index, RPCError(code: .unavailable, message: error.message), now: now, configuration: configuration)
            }
        }
    }

    /// A connection to `address` of target `index` failed before it was ready: the next one
    /// goes to the target's next address; after the last one the target backs off (and a name
    /// is resolved again).
    private static func addressFailed(
        _ state: inout State,
        _ index: Int,
        _ address: SocketAddress,
        _ error: RPCError,
        now: ContinuousClock.Instant,
        configuration: HTTP2ClientTransport.Configuration
    ) {
        let target = state.targets[index]
        let current = target.addresses.isEmpty ? nil : target.addresses[target.cursor % target.addresses.count]
        state.targets[index].lastError = error
        guard current == address else { return }  // an older attempt; the cursor already moved on
        if target.cursor + 1 < target.addresses.count {
            state.targets[index].cursor += 1
            return
        }
        state.targets[index].cursor = 0
        if case .name = target.target { state.targets[index].resolvedAt = nil }
        backOff(&state, index, error, now: now, configuration: configuration)
    }

    private static func backOff(
        _ state: inout State,
        _ index: Int,
        _ error: RPCError,
        now: ContinuousClock.Instant,
        configuration: HTTP2ClientTransport.Configuration
    ) {
        let backoff = configuration.backoff
        let delay = state.targets[index].nextDelay
        let jitter = Double.random(in: (1 - backoff.jitter)...(1 + backoff.jitter))
        state.targets[index].backoffUntil = now.advanced(by: delay * jitter)
        state.targets[index].nextDelay = min(delay * backoff.multiplier, backoff.maximum)
        state.targets[index].lastError = error
        if state.preferred == index { state.preferred = (index + 1) % state.targets.count }
    }

    /// The server behind `connection` answered a call with UNAVAILABLE (it is up but cannot
    /// serve now: its store is unreachable, it is draining): later calls prefer the next target,
    /// if there is another. No backoff: it stays reachable and is tried again in turn.
    func serverUnavailable(on connection: ClientConnection) {
        state.withLock { state in
            let key = ObjectIdentifier(connection)
            let count = state.targets.count
            guard count > 1, state.targets[state.preferred].entries[key] != nil else { return }
            state.preferred = (state.preferred + 1) % count
        }
    }

    /// Applies `body` to `connection`'s entry (under the lock); nil when the pool no longer lists
    /// the connection.
    @discardableResult
    private func update<Result>(_ connection: ClientConnection, _ body: (inout Entry) -> Result) -> Result? {
        state.withLock { state in
            let key = ObjectIdentifier(connection)
            guard let index = state.targets.firstIndex(where: { $0.entries[key] != nil }) else { return nil }
            return body(&state.targets[index].entries[key]!)
        }
    }

    // MARK: From connections (their loops)

    /// `connection` got the server's first SETTINGS, which announced `maxConcurrentStreams`.
    func connectionReady(_ connection: ClientConnection, maxConcurrentStreams: Int) {
        state.withLock { state in
            let key = ObjectIdentifier(connection)
            for index in state.targets.indices where state.targets[index].entries[key] != nil {
                Self.learn(&state.targets[index], key, limit: maxConcurrentStreams)
                state.targets[index].backoffUntil = nil
                state.targets[index].nextDelay = configuration.backoff.initial
                state.targets[index].lastError = nil
            }
        }
    }

    /// The server behind the ready `connection` sent SETTINGS again; its stream limit is now
    /// `maxConcurrentStreams`. Lowered below the streams admitted, they go on and `admit` and
    /// `pick` pass the connection over until enough of them ended; raised, it takes more.
    func limitChanged(_ connection: ClientConnection, maxConcurrentStreams: Int) {
        state.withLock { state in
            let key = ObjectIdentifier(connection)
            for index in state.targets.indices where state.targets[index].entries[key] != nil {
                Self.learn(&state.targets[index], key, limit: maxConcurrentStreams)
            }
        }
    }

    /// Records the stream limit the server of `target` announced on the connection `key`.
    private static func learn(_ target: inout Target, _ key: ObjectIdentifier, limit: Int) {
        target.entries[key]!.limit = max(1, limit)
        target.knownLimit = max(1, limit)
    }

    func connectionDraining(_ connection: ClientConnection) {
        update(connection) { $0.draining = true }
    }

    /// Whether a call that reserved `connection` (now ready) may start its stream: true when
    /// fewer than the server's limit are admitted (the call is then admitted). Otherwise the
    /// reservation is released: the call picks again, and since a connection whose admitted
    /// streams reach its limit (or exceed it, lowered by the server since) also has that many
    /// reservations, `pick` passes it over while it is full. Also true when the pool no longer
    /// lists the connection (it closed: `attach` then fails the call as unprocessed).
    func admit(on connection: ClientConnection) -> Bool {
        update(connection) { entry in
            if entry.admitted < entry.limit {
                entry.admitted += 1
                return true
            }
            entry.reserved -= 1
            return false
        } ?? true
    }

    /// A call that reserved `connection` ended: `admitted`, its stream ended (or never started
    /// after `admit`); otherwise it gave up before `admit` (connect failure, deadline,
    /// cancellation).
    func streamEnded(on connection: ClientConnection, admitted: Bool = true) {
        update(connection) { entry in
            entry.reserved -= 1
            if admitted { entry.admitted -= 1 }
        }
    }

    /// Reserved and admitted calls over all connections (for tests).
    var streamCounts: (reserved: Int, admitted: Int) {
        state.withLock { state in
            state.targets.reduce((0, 0)) { total, target in
                target.entries.values.reduce(total) { ($0.0 + $1.reserved, $0.1 + $1.admitted) }
            }
        }
    }

    /// `connection` closed. One that never became ready counts as a failed address; a ready one
    /// whose peer stopped answering (`unresponsive`: a frozen process, a dropped route) backs
    /// its target off, so that the calls after it go to the next target rather than connect to
    /// the silent one again (a TCP connect to a frozen process succeeds, and only the HTTP/2
    /// handshake's timeout would tell).
    func connectionClosed(_ connection: ClientConnection, wasReady: Bool, error: RPCError, unresponsive: Bool = false) {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { state in
            let key = ObjectIdentifier(connection)
            let now = ContinuousClock.now
            for index in state.targets.indices where state.targets[index].entries.removeValue(forKey: key) != nil {
                if !wasReady {
                    Self.addressFailed(&state, index, connection.address, error, now: now, configuration: configuration)
                } else if unresponsive {
                    Self.backOff(&state, index, error, now: now, configuration: configuration)
                }
            }
            guard state.closed, state.connectionCount == 0 else { return [] }
            defer { state.closeWaiters.removeAll() }
            return state.closeWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    // MARK: Closing

    /// Refuses new calls, lets calls in flight finish, and returns once every connection closed.
    func close() async {
        closeWithoutWaiting()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state in
                if state.connectionCount == 0 { return true }
                state.closeWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Refuses new calls and starts draining every connection.
    func closeWithoutWaiting() {
        let connections: [ClientConnection] = state.withLock { state in
            state.closed = true
            return state.targets.flatMap { $0.entries.values.map(\.connection) }
        }
        for connection in connections {
            connection.loop.execute { connection.drain() }
        }
    }

    /// Open connections (for tests).
    var connectionCount: Int { state.withLock { $0.connectionCount } }
}
