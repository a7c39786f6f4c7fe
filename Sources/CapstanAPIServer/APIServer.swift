public import CapstanRPC
public import CapstanStore

/// The API server core: every registry of API.md over one store, with a watch cache per kind.
///
/// Register its services on a router, then keep `run()` going (it follows the store) while the
/// RPC server serves:
/// ```swift
/// let api = APIServer(store: store)
/// var router = RPCRouter()
/// api.register(on: &router)
/// async let feed: Void = api.run()
/// try await RPCServer(router: router).serve(on: transport)
/// ```
public final class APIServer: Sendable {
    public let options: APIServerOptions
    let store: any Store
    let progress: CacheProgress
    let feed: CacheFeed
    let pods: Registry<PodStrategy>
    let minions: Registry<MinionStrategy>
    let services: ServiceRegistry
    let controllers: Registry<ReplicationControllerStrategy>
    let endpoints: Registry<EndpointsStrategy>
    let bindings: BindingRegistry

    public init(store: any Store, options: APIServerOptions = APIServerOptions()) {
        self.store = store
        self.options = options
        progress = CacheProgress(unreachableAfter: options.storeUnreachableAfter, uncertainWindow: options.uncertainReadWindow)
        let limits = WatchCache.Limits(
            ringCapacity: options.eventRingCapacity, ringBytes: options.eventRingBytes, logBytes: options.watchLogBytes,
            watcherQueueLimit: options.watcherQueueLimit,
            maxWatchers: options.maxWatchersPerKind)
        let progress = progress
        func cache<S: KindStrategy>(_ strategy: S.Type) -> WatchCache {
            WatchCache(codec: S.codec, limits: limits, progress: progress)
        }
        // The registries' writes report those of unknown outcome; the feed reads the store itself.
        let writes = UncertainWrites(store: store, progress: progress)
        let head = StoreHead(store: store)
        func registry<S: KindStrategy>(_ strategy: S.Type, _ cache: WatchCache) -> Registry<S> {
            Registry<S>(store: writes, cache: cache, progress: progress, options: options, head: head)
        }
        let caches = [
            cache(PodStrategy.self), cache(MinionStrategy.self), cache(ServiceStrategy.self),
            cache(ReplicationControllerStrategy.self), cache(EndpointsStrategy.self),
        ]
        pods = registry(PodStrategy.self, caches[0])
        minions = registry(MinionStrategy.self, caches[1])
        services = ServiceRegistry(
            registry: registry(ServiceStrategy.self, caches[2]),
            claims: ServicePortClaims(store: writes, gracePeriod: options.portClaimGracePeriod))
        controllers = registry(ReplicationControllerStrategy.self, caches[3])
        endpoints = registry(EndpointsStrategy.self, caches[4])
        bindings = BindingRegistry(pods: pods, minions: minions)
        feed = CacheFeed(store: store, caches: caches, progress: progress, historyRevisions: options.historyRevisions)
    }

    /// The services `register(on:)` adds, by their full gRPC names.
    public static let serviceNames = [
        Minions.serviceName, Pods.serviceName, Services.serviceName, ReplicationControllers.serviceName,
        EndpointsRegistry.serviceName, Bindings.serviceName,
    ]

    /// Registers Minions, Pods, Services, ReplicationControllers, EndpointsRegistry and Bindings.
    public func register(on router: inout RPCRouter) {
        MinionService(registry: minions).register(on: &router)
        PodService(registry: pods, bindings: bindings).register(on: &router)
        ServiceService(services: services).register(on: &router)
        KindService(registry: controllers).register(on: &router)
        KindService(registry: endpoints).register(on: &router)
        BindingService(bindings: bindings).register(on: &router)
    }

    /// Follows the store into the watch caches and sends periodic bookmarks, until cancelled.
    /// Reads wait (up to `readWaitTimeout`) until the caches first caught up, unless the store
    /// cannot be reached meanwhile: then they fail UNAVAILABLE at once (see `CacheProgress`).
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.feed.run() }
            group.addTask { await self.feed.runBookmarks(every: self.options.bookmarkInterval) }
            await group.waitForAll()
        }
    }

    /// Ends every watch with UNAVAILABLE ("the API server is shutting down") and refuses new
    /// ones, while other calls go on: call it when a graceful shutdown begins, which would
    /// otherwise wait forever for watch streams. Clients watch again, from the last resource
    /// version they received, on another (or the restarted) server. Idempotent.
    public func closeWatches() {
        for cache in feed.caches { cache.closeWatches(.unavailable(reason: "the API server is shutting down")) }
    }

    /// Why the watch caches last failed to list or follow the store, and when (nil if they never
    /// failed). Renewed at every retry while the store stays unreachable: a recent one means the
    /// caches are not following the store now, and reads wait or fail.
    public var storeFeedFailure: (reason: String, at: ContinuousClock.Instant)? { feed.lastFailure }

    /// Tells the server what the host's store probe found: at each probe the store fails, why
    /// (`failure`), and nil once it passes again. While it fails, reads that would wait for the
    /// caches to apply an acknowledged write, and writes that must read the store first, fail at
    /// once with UNAVAILABLE (see `CacheProgress`).
    public func storeProbed(failure: String?) {
        if let failure { progress.storeProbeFailed(failure) } else { progress.storeProbeSucceeded() }
    }

    /// The revision the watch caches reached and how many objects they hold: what a server that
    /// turned ready says it serves (an empty store where one was expected shows at once).
    public var cached: (revision: Int64, objects: Int) {
        (progress.revision, feed.caches.reduce(0) { $0 + $1.objectCount })
    }

    /// What the watch caches hold now, as metrics families: objects and watchers per kind
    /// (`resource` label: pods, services, …) and the revision the caches reached.
    public func stateMetrics() -> [MetricFamily] {
        let caches = feed.caches
        return [
            MetricFamily(
                "capstan_apiserver_objects", .gauge, help: "Objects the watch cache of each kind holds.",
                samples: caches.map { MetricFamily.Sample($0.objectCount, labels: ["resource": $0.codec.keys.resource]) }),
            MetricFamily(
                "capstan_apiserver_watchers", .gauge, help: "Watch streams each kind's cache serves now.",
                samples: caches.map { MetricFamily.Sample($0.watcherCount, labels: ["resource": $0.codec.keys.resource]) }),
            MetricFamily(
                "capstan_apiserver_cache_revision", .gauge,
                help: "The store revision the watch caches reached (every write up to it is served).",
                value: Double(progress.revision)),
        ]
    }

    /// Waits until the caches reflect the store as it was when `run()` started, through any
    /// failures of the store meanwhile (reads fail while the store cannot be reached; this wait
    /// goes on), at most `startupTimeout` for each of its two steps.
    public func waitUntilReady() async throws {
        // First the first listing (the feed notes the store's head before it), then that head.
        try await progress.wait(for: 0, timeout: options.startupTimeout, patience: .startUp)
        try await progress.waitForWrites(timeout: options.startupTimeout, patience: .startUp)
    }
}
