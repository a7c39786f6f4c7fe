import CapstanAPI

/// Tuning of the API server; tests shrink the sizes and intervals.
public struct APIServerOptions: Sendable {
    /// Page size of a List with `limit = 0`.
    public var defaultPageSize = 500
    /// Most bytes of items in one List page (at least one item is always sent), so a page stays
    /// under gRPC's usual 4 MiB message limit.
    public var maxPageBytes = 3 << 20
    /// Largest encoded object accepted.
    public var maxObjectBytes = defaultMaxObjectBytes
    /// How long after a write whose outcome the store could not tell reads ask the store for its
    /// head first (see `CacheProgress`): longer than etcd takes to apply or drop a proposal in
    /// flight, and than a client takes to read the object back as it is told to.
    public var uncertainReadWindow: Duration = .seconds(60)
    /// Events each kind's cache keeps for watches that resume.
    public var eventRingCapacity = 10_000
    /// Most bytes those events may hold per kind (each event weighed as the object before and
    /// after it and one encoding): large objects shorten the history instead of filling memory.
    public var eventRingBytes = 128 << 20
    /// Most bytes of live events held per kind for watchers that have not read them yet; a
    /// watcher behind them takes its events from the ring, or ends RESOURCE_EXHAUSTED.
    public var watchLogBytes = 64 << 20
    /// Revisions of history the caches load at start, so watches resume across restarts.
    public var historyRevisions: Int64 = 10_000
    /// Live events a watcher may have waiting before it is dropped with RESOURCE_EXHAUSTED.
    public var watcherQueueLimit = 1_000
    /// Watches served at once per kind.
    public var maxWatchersPerKind = 10_000
    /// Interval of periodic bookmarks to watchers that allow them.
    public var bookmarkInterval: Duration = .seconds(60)
    /// How long a read waits for the cache to reach the last acknowledged write.
    public var readWaitTimeout: Duration = .seconds(10)
    /// How long the watch caches may have been trying to list the store, their latest attempt
    /// failed, before reads stop waiting for the listing and fail UNAVAILABLE with the store's
    /// error (see `CacheProgress`): a blip the next attempt gets past costs reads a wait, not an
    /// error.
    public var storeUnreachableAfter: Duration = .seconds(1)
    /// How long `waitUntilReady` waits for the caches to load the store at start (150,000 pods
    /// take several seconds on a loaded machine).
    public var startupTimeout: Duration = .seconds(300)
    /// How long a service-port claim may stay unconfirmed before another service may take it over
    /// (only matters when an API server died between claiming and creating).
    public var portClaimGracePeriod: Duration = .seconds(30)
    /// How often a host asks the store whether it answers, for the health service.
    public var storeProbeInterval: Duration = .seconds(1)
    /// How long a store probe may take before the store counts as not answering.
    public var storeProbeTimeout: Duration = .seconds(2)
    /// How often a host compacts a store that does not compact itself (etcd), each time to the
    /// revision it read the time before (as kube-apiserver's `--etcd-compaction-interval`); nil:
    /// never (leave it to etcd's `--auto-compaction-retention`). The embedded store compacts
    /// itself (`SQLiteStoreOptions.retention`).
    public var storeCompactionInterval: Duration? = .seconds(300)

    public init() {}
}
