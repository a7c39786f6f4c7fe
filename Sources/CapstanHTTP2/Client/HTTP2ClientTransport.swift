public import CapstanRPC

/// gRPC over HTTP/2 (cleartext, prior knowledge) on nghttp2: a `ClientTransport` for `RPCClient`.
///
/// Connects lazily, on the first call. Many calls share one connection per target; a further
/// connection opens when a connection carries as many streams as the server allows (calls made
/// while a connection is being set up wait for it, and those past the limit its server then
/// announces move on to another connection rather than queue behind streams that may never
/// end). A call waits for its connection (until its deadline); a target that cannot be reached
/// is skipped for a backoff period (exponential, with jitter) and the next target is tried. A
/// target may be a DNS name: it is resolved (`getaddrinfo`, on a thread of its own, once for all
/// the calls waiting for it) when a connection to it is needed, at most every 30 s, and again
/// after every one of its addresses failed; its addresses are tried in the resolver's order. A
/// call fails with `UNAVAILABLE` when no target is reachable and when its connection is lost.
/// When a server answers a call with `UNAVAILABLE` (it is up but cannot serve, e.g. an API
/// server that lost its store), later calls prefer the next target.
///
/// A call that provably never reached a server's handler fails with `UNAVAILABLE` and carries
/// `unprocessedKey` in its error's trailers: no target was reachable, its connection closed or
/// drained before its request HEADERS were sent (nghttp2 holds them back while the server's
/// stream limit is reached), or the server refused the stream (REFUSED_STREAM, including the
/// streams a graceful GOAWAY left unprocessed). Such a call may be retried even when it is not
/// idempotent. A call whose deadline passed before its stream opened (while its connection was
/// still being made) fails with `DEADLINE_EXCEEDED` and carries the key too (it is not retried:
/// its time is up). The key is
/// removed from trailers a server sends.
public final class HTTP2ClientTransport: ClientTransport {
    /// The trailer key (value `"1"`) of an error whose call never reached a server (see above).
    public static let unprocessedKey = "capstan-unprocessed"

    /// `error` with `unprocessedKey` in its trailers (see `RPCError.isUnprocessed`).
    package static func markedUnprocessed(_ error: RPCError) -> RPCError {
        var error = error
        if error.trailers.first(unprocessedKey) == nil { try? error.trailers.add(unprocessedKey, "1") }
        return error
    }

    /// Reconnect backoff per target.
    public struct Backoff: Sendable, Hashable {
        public var initial: Duration
        public var multiplier: Double
        public var maximum: Duration
        /// Each delay is multiplied by a random factor in 1 ± jitter.
        public var jitter: Double

        public init(initial: Duration = .seconds(1), multiplier: Double = 1.6, maximum: Duration = .seconds(120), jitter: Double = 0.2) {
            self.initial = initial
            self.multiplier = multiplier
            self.maximum = maximum
            self.jitter = jitter
        }
    }

    public struct Configuration: Sendable {
        /// The largest response message accepted; larger ones fail the call with RESOURCE_EXHAUSTED.
        public var maxReceiveMessageSize: Int = 4 * 1024 * 1024
        /// SETTINGS_INITIAL_WINDOW_SIZE: what a server may send on one stream before the caller reads.
        public var initialStreamWindowSize: Int = 1024 * 1024
        /// The connection-level receive window.
        public var connectionWindowSize: Int = 16 * 1024 * 1024
        /// SETTINGS_MAX_HEADER_LIST_SIZE.
        public var maxHeaderListSize: Int = 16 * 1024
        /// Bytes of request messages a stream queues before `writeMessage` suspends.
        public var outboundBufferSize: Int = 64 * 1024
        /// Bytes of complete response messages a stream buffers before it stops returning window
        /// (each message counts 64 bytes more, for its bookkeeping).
        public var inboundBufferSize: Int = 64 * 1024
        /// PINGs on idle connections; `nil`: none (gRPC's client default).
        public var keepalive: Keepalive?
        /// How long a connection attempt may take.
        public var connectTimeout: Duration = .seconds(20)
        public var backoff = Backoff()
        /// The `user-agent` header.
        public var userAgent = "capstan-grpc-swift/0.1"

        public init() {}

        public static var defaults: Configuration { Configuration() }
    }

    public let configuration: Configuration
    public let group: EventLoopGroup
    private let pool: ConnectionPool

    /// Calls go to `targets` (`"127.0.0.1:50051"`, `"[::1]:50051"`, `"localhost:50051"`,
    /// `"api.example:50051"`), the first reachable one in order. Throws `invalidAddress` for a
    /// target that is neither a numeric address nor a DNS name (names are resolved later).
    public convenience init(targets: [String], configuration: Configuration = .defaults, group: EventLoopGroup) throws(HTTP2TransportError) {
        try self.init(targets: targets, configuration: configuration, group: group, resolve: NameResolver.resolve)
    }

    /// Checks one target as `init` would, without connecting or resolving it: `invalidAddress`
    /// saying what is wrong, for a tool to refuse a bad address when it is given.
    public static func checkTarget(_ target: String) throws(HTTP2TransportError) {
        _ = try ClientTarget(parsing: target)
    }

    /// As the public `init`, with names resolved by `resolve` (tests observe resolution with it).
    init(
        targets: [String], configuration: Configuration, group: EventLoopGroup, resolve: @escaping NameResolver.Resolve
    ) throws(HTTP2TransportError) {
        guard !targets.isEmpty else { throw HTTP2TransportError(.invalidAddress, "no targets") }
        var parsed: [ClientTarget] = []
        for target in targets { parsed.append(try ClientTarget(parsing: target)) }
        self.configuration = configuration
        self.group = group
        pool = ConnectionPool(targets: parsed, configuration: configuration, group: group, resolve: resolve)
    }

    public func openStream(
        path: String,
        metadata: Metadata,
        deadline: ContinuousClock.Instant?
    ) async throws -> ClientTransportStream {
        var failures: [Int: Int] = [:]
        while true {
            if let deadline, deadline <= .now {
                throw Self.markedUnprocessed(
                    RPCError(code: .deadlineExceeded, message: "the deadline passed before the call to \(path) started"))
            }
            let connection: ClientConnection
            let target: Int
            switch pool.pick(attempts: failures) {
            case .fail(let error):
                throw Self.markedUnprocessed(error)
            case .resolve(let resolution):
                // Off this task (which may run on a loop); a cancelled or expired call stops
                // waiting, and the resolution still completes for the calls after it.
                try await resolution.wait(deadline: deadline, loop: group.next())
                continue
            case .use(let picked, let index):
                connection = picked
                target = index
            }
            do {
                try await connection.readiness.wait(deadline: deadline, loop: connection.loop)
            } catch let error as RPCError where error.code == .unavailable {
                // That address did not answer: try the target's next one, or the next target.
                pool.streamEnded(on: connection, admitted: false)
                failures[target, default: 0] += 1
                continue
            } catch {
                pool.streamEnded(on: connection, admitted: false)
                throw error
            }
            // Reserved while connecting, past the limit the server announced: another connection.
            guard pool.admit(on: connection) else { continue }
            let headers = GRPCRequestHeaders.make(
                path: path,
                authority: connection.address.hostAndPort,
                scheme: "http",
                timeout: deadline.map { ContinuousClock.now.duration(to: $0) },
                metadata: metadata,
                userAgent: configuration.userAgent)
            let stream = ClientStream(
                connection: connection, requestHeaders: headers, configuration: configuration, path: path, deadline: deadline)
            if connection.loop.inEventLoop {
                connection.attach(stream)
            } else {
                connection.loop.execute { connection.attach(stream) }
            }
            return ClientTransportStream(
                responses: stream.inbox, writer: ClientWriter(stream: stream), enforcesDeadline: true, executor: connection.loop)
        }
    }

    /// Refuses new calls, lets calls in flight finish, then closes every connection.
    public func close() async {
        await pool.close()
    }

    deinit {
        // Dropped without `close()`: connections still drain and close, without waiting here.
        pool.closeWithoutWaiting()
    }

    /// Open or opening connections (for tests and diagnostics).
    public var connectionCount: Int { pool.connectionCount }

    /// Calls that reserved a connection, and those of them admitted to start a stream (for tests).
    var streamCounts: (reserved: Int, admitted: Int) { pool.streamCounts }
}

extension RPCError {
    /// Whether the call provably never reached a server (`HTTP2ClientTransport.unprocessedKey`).
    public var isUnprocessed: Bool {
        trailers.first(HTTP2ClientTransport.unprocessedKey) != nil
    }
}
