import CapstanAPI
public import CapstanAPIServer
public import CapstanHTTP2
public import CapstanRPC
public import CapstanStore
import Glibc
import Logging
import CapstanWire

/// Where the cluster state lives: `sqlite:DIRECTORY` or `etcd:HOST:PORT[,HOST:PORT…]`.
public enum StoreAddress: Sendable, Hashable, CustomStringConvertible {
    case sqlite(String)
    case etcd([String])

    /// Parses the `--store` syntax; the error says what was expected.
    public init(parsing text: String) throws(APIServerHostError) {
        if text.hasPrefix("sqlite:"), text.count > 7 {
            self = .sqlite(Self.expandingTilde(String(text.dropFirst(7))))
        } else if text.hasPrefix("etcd:"), text.count > 5 {
            self = .etcd(text.dropFirst(5).split(separator: ",").map(String.init))
        } else {
            throw .invalidArgument("--store must be sqlite:DIRECTORY or etcd:HOST:PORT[,HOST:PORT…], got '\(text)'")
        }
    }

    /// `~` and `~/…` with the home directory (`$HOME`, else the account's): a shell expands `~`
    /// only at the start of a word, not after `sqlite:` or `--data-dir=`, where it would name a
    /// directory called `~`.
    public static func expandingTilde(_ path: String) -> String {
        guard path == "~" || path.hasPrefix("~/"), let home = homeDirectory else { return path }
        return home + path.dropFirst()
    }

    /// `$HOME`, or the account's home directory when it is unset or empty.
    public static var homeDirectory: String? {
        if let home = getenv("HOME").map({ String(cString: $0) }), !home.isEmpty { return home }
        guard let account = getpwuid(getuid()), let directory = account.pointee.pw_dir else { return nil }
        let home = String(cString: directory)
        return home.isEmpty ? nil : home
    }

    public var description: String {
        switch self {
        case .sqlite(let directory): "sqlite:\(directory)"
        case .etcd(let endpoints): "etcd:\(endpoints.joined(separator: ","))"
        }
    }
}

/// A configuration error of the host, with a message for the operator.
public enum APIServerHostError: Error, CustomStringConvertible {
    case invalidArgument(String)
    /// The watch caches could not list the store before the start-up timeout.
    case storeUnavailable(String)
    /// A listener could not be opened (the address is in use, or not this machine's).
    case cannotListen(String)

    public var description: String {
        switch self {
        case .invalidArgument(let message), .storeUnavailable(let message), .cannotListen(let message): message
        }
    }
}

/// Whether `host` (as `--listen` takes it) is a loopback address: `localhost`, `::1`, or an IPv4
/// literal in 127.0.0.0/8.
public func isLoopbackAddress(_ host: String) -> Bool {
    if host == "localhost" || host == "::1" { return true }
    let parts = host.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) else { return false }
    return parts[0] == "127"
}

/// Splits `HOST:PORT` (`[::1]:7443` for IPv6) into its parts; `flag` names the option in errors.
public func parseListenAddress(
    _ text: String, flag: String = "--listen"
) throws(APIServerHostError) -> (host: String, port: Int) {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count >= 2, let port = Int(parts.last!), (0...65_535).contains(port) else {
        throw .invalidArgument("\(flag) must be HOST:PORT, got '\(text)'")
    }
    var host = parts.dropLast().joined(separator: ":")
    if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    guard !host.isEmpty else { throw .invalidArgument("\(flag) must name a host, got '\(text)'") }
    return (host, port)
}

/// An API server serving gRPC over HTTP/2 from a store, with health and reflection: what
/// `capstan apiserver` runs, and what tests and benchmarks start on a random loopback port.
///
/// `start` opens the store, binds the listener and returns once the watch caches are primed (or,
/// with `waitUntilReady: false`, as soon as it listens: `waitUntilReady()` then waits for the
/// caches); `stop` drains calls in flight (GOAWAY), stops the feed and closes the store. `stop`
/// is idempotent and must be called once the host is no longer needed.
public final class APIServerHost: Sendable {
    /// The address the listener is bound to (the port is the real one when 0 was asked for).
    public let host: String
    /// The bound port.
    public let port: Int
    /// `host:port`, ready for a client's target list.
    public var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    /// The API server core (registries, caches).
    public let api: APIServer
    /// The health service: the server (`""`) and the API's services are NOT_SERVING until the
    /// caches first hold the store and while the store does not answer (`StoreHealthProbe`), and
    /// every service once `shutdown()` began.
    public let health: HealthService
    /// Per-method call metrics of every service served, unless turned off.
    public let metrics: RPCMetrics?
    /// The `GET /metrics` listener, if one was asked for.
    public let metricsEndpoint: MetricsEndpoint?

    private let transport: HTTP2ServerTransport
    private let group: EventLoopGroup
    private let serving: Task<Void, Never>
    private let storeProbe: StoreHealthProbe
    private let closeStore: @Sendable () async -> Void

    private init(
        host: String, port: Int, api: APIServer, health: HealthService, metrics: RPCMetrics?,
        metricsEndpoint: MetricsEndpoint?, transport: HTTP2ServerTransport, group: EventLoopGroup,
        serving: Task<Void, Never>, storeProbe: StoreHealthProbe, closeStore: @escaping @Sendable () async -> Void
    ) {
        self.host = host
        self.port = port
        self.api = api
        self.health = health
        self.metrics = metrics
        self.metricsEndpoint = metricsEndpoint
        self.transport = transport
        self.group = group
        self.serving = serving
        self.storeProbe = storeProbe
        self.closeStore = closeStore
    }

    /// Opens `store`, listens on `host:port` (port 0 picks a free one) and serves until `stop()`.
    /// `interceptors` run inside the request log and metrics of `observability` (which are call
    /// observers: they see calls the interceptors reject, and keep the unary fast path).
    /// Returns once the watch caches hold the store, failing (stopped) if they cannot read it
    /// within `options.startupTimeout`; with `waitUntilReady: false`, as soon as it listens
    /// (`waitUntilReady()` waits for the caches then).
    public static func start(
        store address: StoreAddress,
        host: String = "127.0.0.1",
        port: Int = 0,
        options: APIServerOptions = APIServerOptions(),
        observability: ObservabilityOptions = ObservabilityOptions(),
        transportConfiguration: HTTP2ServerTransport.Configuration = .defaults,
        interceptors: [any ServerInterceptor] = [],
        loops: Int? = nil,
        waitUntilReady: Bool = true
    ) async throws -> APIServerHost {
        if observability.metricsListen != nil, !observability.metrics {
            throw APIServerHostError.invalidArgument("a metrics listener needs metrics turned on")
        }
        let store: any Store
        let closeStore: @Sendable () async -> Void
        switch address {
        case .sqlite(let directory):
            let sqlite = try await SQLiteStore.open(directory: directory)
            store = sqlite
            closeStore = { await sqlite.close() }
        case .etcd(let endpoints):
            let etcd = try EtcdStore(endpoints: endpoints)
            store = etcd
            closeStore = { await etcd.close() }
        }
        let compactsStore: Bool
        if case .etcd = address { compactsStore = true } else { compactsStore = false }
        return try await start(
            store: store, closeStore: closeStore, host: host, port: port, options: options,
            observability: observability, transportConfiguration: transportConfiguration,
            interceptors: interceptors, loops: loops, compactsStore: compactsStore, waitUntilReady: waitUntilReady)
    }

    /// Serves an already open `store`; `closeStore` runs at the end of `stop()`. Returns as the
    /// other `start` does. With `compactsStore` (a store that does not compact itself: etcd), it
    /// compacts the store every `options.storeCompactionInterval` (`StoreCompactor`).
    public static func start(
        store: any Store,
        closeStore: @escaping @Sendable () async -> Void,
        host: String = "127.0.0.1",
        port: Int = 0,
        options: APIServerOptions = APIServerOptions(),
        observability: ObservabilityOptions = ObservabilityOptions(),
        transportConfiguration: HTTP2ServerTransport.Configuration = .defaults,
        interceptors: [any ServerInterceptor] = [],
        loops: Int? = nil,
        compactsStore: Bool = false,
        waitUntilReady: Bool = true
    ) async throws -> APIServerHost {
        if observability.metricsListen != nil, !observability.metrics {
            await closeStore()
            throw APIServerHostError.invalidArgument("a metrics listener needs metrics turned on")
        }
        let group: EventLoopGroup
        do {
            let stalls = LoopStallLog().stallReport
            group = try EventLoopGroup(threads: loops ?? EventLoopGroup.coreCount, stallReport: stalls)
        } catch {
            await closeStore()
            throw error
        }
        let api = APIServer(store: store, options: options)
        var router = RPCRouter()
        api.register(on: &router)
        let metrics = observability.metrics ? RPCMetrics() : nil
        if let metrics { MetricsService(metrics: metrics).register(on: &router) }
        // NOT_SERVING until the caches hold the store (the probe waits for that); then the store
        // probe keeps it.
        let health = HealthService(serverStatus: .notServing)
        let storeProbe = StoreHealthProbe(
            store: store, health: health, services: [""] + APIServer.serviceNames,
            ready: { try await api.waitUntilReady() }, feedFailure: { api.storeFeedFailure },
            storeProbed: { api.storeProbed(failure: $0) },
            interval: options.storeProbeInterval, timeout: options.storeProbeTimeout)
        storeProbe.set(false)
        // Reflection lists it, so health answers for it too; it needs no store.
        if metrics != nil { health.setStatus(.serving, for: Metrics.serviceName) }
        _ = router.addStandardServices(health: health, descriptors: CapstanFileDescriptors.all)
        var observers: [any CallObserver] = []
        if let metrics { observers.append(metrics.observer) }
        if let logger = observability.requestLogger {
            observers.append(RequestLogObserver(
                logger: logger, skippedServices: observability.unloggedServices,
                slowCallThreshold: observability.slowCallThreshold,
                limiter: observability.requestLogLinesPerSecond.flatMap { limit in
                    limit > 0 ? RequestLogLimiter(linesPerSecond: limit, logger: logger) : nil
                }))
        }
        let metricsEndpoint: MetricsEndpoint?
        let transport: HTTP2ServerTransport
        do {
            if let listen = observability.metricsListen, let metrics {
                do {
                    metricsEndpoint = try MetricsEndpoint(host: listen.host, port: listen.port) { metrics.prometheusText() }
                } catch {
                    throw APIServerHostError.cannotListen("cannot serve metrics on \(listen.host):\(listen.port): \(error)")
                }
            } else {
                metricsEndpoint = nil
            }
            do {
                var configuration = transportConfiguration
                if configuration.acceptTrouble == nil {
                    let logger = Logger(label: "capstan.apiserver")
                    configuration.acceptTrouble = { reason in
                        if let reason {
                            logger.error("\(reason)")
                        } else {
                            logger.notice("accepting connections again")
                        }
                    }
                }
                transport = try HTTP2ServerTransport(host: host, port: port, configuration: configuration, group: group)
            } catch {
                metricsEndpoint?.stop()
                throw APIServerHostError.cannotListen("cannot listen on \(host):\(port): \(error)")
            }
        } catch {
            await group.shutdown()
            await closeStore()
            throw error
        }
        if let metrics {
            ServerMetrics.install(on: metrics, api: api, health: health, store: store, transport: transport)
        }
        let server = RPCServer(router: router, interceptors: interceptors, observers: observers)
        let serving = Task {
            await withTaskGroup(of: Void.self) { tasks in
                let feed = Task { await api.run() }
                let probe = Task { await storeProbe.run() }
                let compactor = Task {
                    guard compactsStore, let interval = options.storeCompactionInterval else { return }
                    await StoreCompactor(store: store, interval: interval).run()
                }
                tasks.addTask { try? await server.serve(on: transport) }
                await tasks.waitForAll()
                probe.cancel()
                feed.cancel()
                compactor.cancel()
                _ = await feed.value
                _ = await probe.value
                _ = await compactor.value
            }
        }
        let running = APIServerHost(
            host: host, port: transport.localPort, api: api, health: health, metrics: metrics,
            metricsEndpoint: metricsEndpoint, transport: transport, group: group, serving: serving,
            storeProbe: storeProbe, closeStore: closeStore)
        guard waitUntilReady else { return running }
        do {
            try await running.waitUntilReady()
        } catch {
            await running.stop()
            throw error
        }
        return running
    }

    /// Waits until the watch caches hold the store (health is SERVING from then on), logging each
    /// new reason the store cannot be read meanwhile (an etcd that is not up yet is retried, not
    /// silently waited for); after `options.startupTimeout`, fails with `storeUnavailable` naming
    /// the last of them. Meanwhile the server answers calls: reads wait for the caches, or fail
    /// UNAVAILABLE while the store cannot be reached. Does not stop the server.
    public func waitUntilReady() async throws {
        try await Self.waitUntilReady(api, timeout: api.options.startupTimeout)
        storeProbe.markReady()
    }

    private static func waitUntilReady(_ api: APIServer, timeout: Duration) async throws {
        let logger = Logger(label: "capstan.apiserver")
        let reporter = Task {
            var reported: String?
            while !Task.isCancelled {
                if let failure = api.storeFeedFailure, failure.reason != reported {
                    reported = failure.reason
                    logger.warning(
                        "cannot read the store yet; retrying until it answers (the start-up timeout is \(timeout))",
                        metadata: ["error": "\(failure.reason)"])
                }
                guard (try? await Task.sleep(for: .milliseconds(200))) != nil else { return }
            }
        }
        defer { reporter.cancel() }
        do {
            try await api.waitUntilReady()
        } catch {
            guard let failure = api.storeFeedFailure else { throw error }
            throw APIServerHostError.storeUnavailable(
                "the watch caches could not read the store within \(timeout): \(failure.reason)")
        }
    }

    /// Starts a graceful shutdown without waiting: health turns NOT_SERVING, GOAWAY is sent, watches
    /// end with UNAVAILABLE (clients resume them elsewhere), other calls in flight may finish. Safe
    /// from a signal handler's queue.
    public func beginShutdown() {
        health.shutdown()
        transport.beginGracefulShutdown()
        api.closeWatches()
    }

    /// Ends every connection at once: calls in flight are cancelled rather than waited for. What
    /// a graceful shutdown comes to once its grace period is over (a client that stopped reading
    /// a stream would otherwise hold it for ever), or at once on an operator's second signal.
    public func abort() {
        beginShutdown()
        serving.cancel()
    }

    /// Starts a graceful shutdown (`beginShutdown()`) that turns into `abort()` if calls are still
    /// in flight after `gracePeriod`. Does not wait.
    public func shutDown(gracePeriod: Duration) {
        beginShutdown()
        _ = abort(after: gracePeriod)
    }

    /// A task that ends every connection (as `abort()`) once `gracePeriod` is over, unless it is
    /// cancelled first.
    private func abort(after gracePeriod: Duration) -> Task<Void, Never> {
        let serving = serving
        return Task {
            guard (try? await Task.sleep(for: gracePeriod)) != nil else { return }
            serving.cancel()
        }
    }

    /// Resolves when the server has stopped serving (after `beginShutdown()` or a listener failure).
    public func waitUntilStopped() async {
        await serving.value
    }

    /// Shuts down gracefully, ending the calls still in flight after `gracePeriod`, and releases
    /// the listeners, event loops and store.
    public func stop(gracePeriod: Duration = .seconds(10)) async {
        beginShutdown()
        let timer = abort(after: gracePeriod)
        await serving.value
        timer.cancel()
        metricsEndpoint?.stop()
        await closeStore()
        await group.shutdown()
    }
}
