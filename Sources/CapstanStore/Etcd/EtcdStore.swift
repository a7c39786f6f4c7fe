import CapstanHTTP2
import CapstanAPI
import CapstanRPC
import Synchronization

/// The `Store` on an etcd v3 cluster (3.4 or later), through Capstan's own gRPC client over HTTP/2.
///
/// - Keys are the store's keys behind `EtcdStoreOptions.keyPrefix`; values are stored as given.
/// - Reads are linearizable Range calls; a listing reads every page at one revision.
/// - Writes are one `Txn` each: create guards `create_revision == 0`, update and delete guard
///   `mod_revision == expected` (or that the key exists), and the failure branch reads the key, so a
///   conflict reports the current revision in the same round trip. An update keeps the key's lease
///   (`ignore_lease`).
/// - Watches are bidirectional `Watch` streams that resume from the last revision they delivered
///   when a stream or connection breaks (see `EtcdWatchSource`).
/// - Leases: LeaseGrant, LeaseRevoke, and one shared bidirectional `LeaseKeepAlive` stream.
/// - Several endpoints: the transport fails over between them. Reads and keep-alives are retried
///   after failures; writes are not (their outcome is unknown), and fail with `unavailable`.
/// - Calls are not cancellable (see `Store`) and have a deadline: see `EtcdStore+Calls.swift`.
///
/// Differences from `SQLiteStore` that etcd imposes: when etcd itself expires a lease, all its keys
/// are deleted at one revision (`revokeLease` deletes them one revision each, like SQLite); etcd
/// rounds a lease's TTL up to whole seconds and to its minimum TTL; revisions are shared with
/// everything else stored in the same etcd.
public final class EtcdStore: Store {
    public let options: EtcdStoreOptions
    let keys: EtcdKeys
    let kv: Etcdserverpb_KV.Client
    /// What `kv` calls through; a read makes its own client on `transport` (see `performRead`).
    let rpc: RPCClient
    let transport: HTTP2ClientTransport
    let watchClient: Etcdserverpb_Watch.Client
    let leaseClient: Etcdserverpb_Lease.Client
    private let group: EventLoopGroup
    let watches = WatchRegistry()
    let keeper: EtcdLeaseKeeper
    private let closed = Atomic<Bool>(false)
    /// The highest compaction revision this store has seen (a hint for finding the current one).
    let knownCompaction = Atomic<Int64>(0)
    let counters = EtcdCounters()
    let deadlines = EtcdDeadlines()
    /// The last failure a read retried past, and when (`recentRetriedFailure`).
    let retriedFailure = Mutex<(reason: String, at: ContinuousClock.Instant)?>(nil)

    /// How often the store has recovered from failures so far.
    public var statistics: EtcdStoreStatistics { counters.snapshot }

    /// A store on the etcd members at `endpoints` (`"127.0.0.1:2379"`, …). Connects lazily; use
    /// `connect` to find out at once whether etcd answers.
    public init(endpoints: [String], options: EtcdStoreOptions = EtcdStoreOptions()) throws(StoreError) {
        guard !endpoints.isEmpty else { throw .invalid(reason: "no etcd endpoints") }
        self.options = options
        keys = try EtcdKeys(prefix: options.keyPrefix)
        do {
            group = try EventLoopGroup(threads: max(1, options.eventLoopThreads), name: "capstan-etcd")
        } catch {
            throw .unavailable(reason: "cannot start the etcd client's event loop: \(error)")
        }
        do {
            transport = try HTTP2ClientTransport(targets: endpoints, configuration: options.transport, group: group)
        } catch {
            let group = group
            Task { await group.shutdown() }
            throw .invalid(reason: "bad etcd endpoint: \(error)")
        }
        rpc = RPCClient(transport: transport)
        kv = Etcdserverpb_KV.Client(rpc)
        watchClient = Etcdserverpb_Watch.Client(rpc)
        leaseClient = Etcdserverpb_Lease.Client(rpc)
        keeper = EtcdLeaseKeeper(client: leaseClient, options: options, counters: counters)
    }

    /// A store on `endpoints` that has answered one read (retried as `options` allow).
    public static func connect(endpoints: [String], options: EtcdStoreOptions = EtcdStoreOptions())
        async throws(StoreError) -> EtcdStore
    {
        let store = try EtcdStore(endpoints: endpoints, options: options)
        do {
            _ = try await store.currentRevision()
        } catch {
            await store.close()
            throw error
        }
        return store
    }

    deinit {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        watches.cancelAll()
        keeper.stop()
        let transport = transport
        let group = group
        Task {
            await transport.close()
            await group.shutdown()
        }
    }

    /// Ends every watch and the keep-alive stream, lets unary calls in flight finish, closes the
    /// connections and stops the event loop. Later calls fail with `unavailable`.
    public func close() async {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        watches.cancelAll()
        keeper.stop()
        await transport.close()
        await group.shutdown()
    }

    var isClosed: Bool { closed.load(ordering: .acquiring) }

    func checkOpen() throws(StoreError) {
        if closed.load(ordering: .acquiring) { throw .unavailable(reason: "the store is closed") }
    }

    // MARK: Revisions

    /// Yes: other users of the cluster (or of other key prefixes) move its revision.
    public var revisionIsShared: Bool { true }

    public func currentRevision() async throws(StoreError) -> Int64 {
        var request = Etcdserverpb_RangeRequest()
        request.key = keys.prefix + [0]
        request.countOnly = true
        return try await performRead { [request] rpc in try await Etcdserverpb_KV.Client(rpc).range(request).header.revision }
    }

    /// The last failure a read retried past, if it came within `window` (see `Store`).
    public func recentRetriedFailure(within window: Duration) -> String? {
        retriedFailure.withLock { failure in
            guard let failure, failure.at.duration(to: .now) <= window else { return nil }
            return failure.reason
        }
    }

    /// Whether etcd takes writes now: a linearizable read (so a leader with a quorum answers, as a
    /// write needs) and the answering member's status, whose `errors` list every raised alarm. A
    /// NOSPACE alarm makes etcd refuse every write while it answers reads, so the read alone would
    /// call such a cluster writable. Neither call is a raft entry; only when the status reports
    /// errors does the check read the alarms through raft, to name each alarm and its member.
    public func checkWritable() async throws(StoreError) {
        _ = try await currentRevision()
        let errors = try await performRead { rpc in
            try await Etcdserverpb_Maintenance.Client(rpc).status(Etcdserverpb_StatusRequest()).errors
        }
        guard !errors.isEmpty else { return }
        let alarms = try await performRead { rpc in
            try await Etcdserverpb_Maintenance.Client(rpc).alarm(Etcdserverpb_AlarmRequest()).alarms
        }
        guard alarms.isEmpty else { throw .unavailable(reason: Self.describe(alarms)) }
        throw .unavailable(reason: "etcd reports: " + errors.joined(separator: "; "))
    }

    /// What raised alarms mean for writes, and what an operator does about each.
    static func describe(_ alarms: [Etcdserverpb_AlarmMember]) -> String {
        let raised = alarms.map { member -> String in
            let id = String(member.memberID, radix: 16)
            switch member.alarm {
            case .nospace:
                return "NOSPACE on member \(id) (its database reached the space quota: compact and defragment etcd, "
                    + "or raise --quota-backend-bytes, then clear the alarm with `etcdctl alarm disarm`)"
            case .corrupt:
                return "CORRUPT on member \(id) (its data differs from the other members': replace the member "
                    + "from a healthy one or a backup)"
            default:
                return "alarm \(member.alarm.rawValue) on member \(id)"
            }
        }
        return "etcd refuses writes while an alarm is raised: " + raised.joined(separator: "; ")
    }

    public func compact(_ revision: Int64) async throws(StoreError) {
        guard revision >= 0 else { throw .invalid(reason: "cannot compact to a negative revision") }
        guard revision > 0 else { return try checkOpen() }
        var request = Etcdserverpb_CompactionRequest()
        request.revision = revision
        request.physical = options.physicalCompaction
        let kv = kv
        do {
            _ = try await perform(revision: revision) { [request] in try await kv.compact(request) }
            knownCompaction.raise(to: revision)
        } catch let error where error.needsCompactedRevision {
            // etcd refuses a compaction at or before its own. At it, `revision` is still readable
            // (history starts there): compacting to where history starts is done already.
            if try await isReadable(at: revision) {
                knownCompaction.raise(to: revision)
                return
            }
            throw .compacted(requested: revision, compactedRevision: try await compactedRevision(after: revision))
        }
    }

    /// etcd's compaction revision, known to be greater than or equal to `failed` (a revision etcd
    /// refused as compacted): the oldest revision a Range may read at, found by bisection between
    /// `failed` and the current revision (the last compaction this store saw is tried first).
    func compactedRevision(after failed: Int64) async throws(StoreError) -> Int64 {
        var low = failed  // refused
        var high = Swift.max(try await currentRevision(), low + 1)  // readable: compaction never passes the head
        let hint = knownCompaction.load(ordering: .relaxed)
        // Usually etcd is compacted where this store last compacted it: try that first.
        var candidates = [hint, hint - 1]
        while high - low > 1 {
            let probe = candidates.first { $0 > low && $0 < high } ?? low + (high - low) / 2
            candidates.removeAll { $0 == probe }
            if try await isReadable(at: probe) { high = probe } else { low = probe }
        }
        knownCompaction.raise(to: high)
        return high
    }

    private func isReadable(at revision: Int64) async throws(StoreError) -> Bool {
        var request = Etcdserverpb_RangeRequest()
        request.key = keys.prefix + [0]
        request.countOnly = true
        request.revision = revision
        do {
            _ = try await performRead(revision: revision) { [request] rpc in try await Etcdserverpb_KV.Client(rpc).range(request) }
            return true
        } catch let error where error.needsCompactedRevision {
            return false
        }
    }

    /// Replaces an unresolved `compacted` error with the compaction revision.
    func resolve(_ error: StoreError) async -> StoreError {
        guard case .compacted(let requested, 0) = error else { return error }
        do {
            return .compacted(requested: requested, compactedRevision: try await compactedRevision(after: requested))
        } catch {
            return error
        }
    }
}

extension Atomic where Value == Int64 {
    /// Sets the value to `value` if that is greater.
    func raise(to value: Int64) {
        var current = load(ordering: .relaxed)
        while current < value {
            let (exchanged, original) = compareExchange(expected: current, desired: value, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}
