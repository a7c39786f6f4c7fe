/// A versioned key-value store with etcd v3 semantics; see the module documentation.
///
/// Revisions are global, start at 1 and increase by one with every write (create, update, delete,
/// each key deleted by a lease). Calls are not cancellable once made: a write that was accepted is
/// applied and its outcome returned even if the caller's task is cancelled meanwhile. Reads and
/// writes are `nonisolated(nonsending)`: they run on the caller's executor up to their first
/// suspension, so a call from an event loop's task costs no executor switch on the way in or out.
public protocol Store: Sendable {
    /// The key's current state; `notFound` if it is absent.
    nonisolated(nonsending) func get(_ key: String) async throws(StoreError) -> KeyValue

    /// Keys starting with `prefix` (all keys for ""), ascending, after `continueKey` when given, at most
    /// `limit` (0: no limit), as of `revision` (0: the current revision). Every page of one listing must
    /// pass the first page's `revision`; `compacted` when that revision is no longer retained.
    nonisolated(nonsending) func list(prefix: String, after continueKey: String?, limit: Int, revision: Int64)
        async throws(StoreError) -> ListResult

    /// Creates `key`, attached to `lease` unless it is 0, if it is absent and every key of
    /// `unchanged` still exists at the mod revision given, all in one transaction. Otherwise nothing
    /// is written and the first failed check is reported: `alreadyExists` for `key`; for a key of
    /// `unchanged`, `notFound` if it is absent and `conflict` (with its current revision) if it
    /// changed. Returns the write's revision.
    nonisolated(nonsending) func create(_ key: String, value: [UInt8], lease: Int64, unchanged: [KeyRevision])
        async throws(StoreError) -> Int64

    /// Replaces `key`'s value if its mod revision is `expectedRevision` (0: unconditionally) and
    /// every key of `unchanged` still exists at the mod revision given, all in one transaction.
    /// Otherwise nothing is written and the first failed check is reported (`key`'s own first):
    /// `notFound` if its key is absent, `conflict` (with the key's current revision) if it changed.
    /// The key keeps its lease. Returns the write's revision.
    nonisolated(nonsending) func update(
        _ key: String, value: [UInt8], expectedRevision: Int64, unchanged: [KeyRevision]
    ) async throws(StoreError) -> Int64

    /// Deletes `key` if its mod revision is `expectedRevision` (0: unconditionally). Returns the entry
    /// as last stored, with the delete's revision as `modRevision`.
    nonisolated(nonsending) func delete(_ key: String, expectedRevision: Int64) async throws(StoreError) -> KeyValue

    /// Every change to keys under `prefix` with a revision greater than `fromRevision`, in revision
    /// order, each once, then live changes. `compacted` (thrown here or from the stream) when the
    /// history after `fromRevision` is no longer complete. Iteration ends (returns nil) when the
    /// consuming task is cancelled.
    func watch(prefix: String, fromRevision: Int64) async throws(StoreError) -> WatchStream

    /// As `watch(prefix:fromRevision:)`, for a watcher that saw the store at `revision` (a
    /// cache that read it there): a store found behind `revision` when the watch is set up or
    /// set up again — it went back, an older copy of it was restored — fails the stream with
    /// `unavailable` saying so, instead of waiting silently for revisions its new history may
    /// never bring. (A store that cannot go back answers as `watch(prefix:fromRevision:)`.)
    func watch(prefix: String, fromReached revision: Int64) async throws(StoreError) -> WatchStream

    /// Forgets history at and before `revision`: later reads and watches older than it fail with
    /// `compacted`. `compacted` if already compacted past it; `invalid` for a future revision.
    func compact(_ revision: Int64) async throws(StoreError)

    /// The revision of the last acknowledged write.
    func currentRevision() async throws(StoreError) -> Int64

    /// Returns once the store could take a write now, or throws why it cannot (`unavailable`). It
    /// writes nothing. For health checks, which bound the wait themselves.
    func checkWritable() async throws(StoreError)

    /// Grants a lease that expires `ttl` after its grant or last keep-alive. Returns its id (> 0).
    func grantLease(ttl: Duration) async throws(StoreError) -> Int64

    /// Restarts the lease's countdown; returns its TTL. `notFound` for an unknown or expired lease.
    func keepAlive(_ lease: Int64) async throws(StoreError) -> Duration

    /// Revokes the lease, deleting every key attached to it (each delete its own revision).
    func revokeLease(_ lease: Int64) async throws(StoreError)

    /// Whether writes outside this store's keys can move its revision (an etcd cluster shared
    /// with other users, or other prefixes): then a watch of a prefix can sit below the head for
    /// as long as nothing under the prefix changes.
    var revisionIsShared: Bool { get }

    /// The last failure a call retried past (such as a refused connection behind a read that is
    /// still retrying), if one came within `window`: what a health probe that timed out names as
    /// the likely cause.
    func recentRetriedFailure(within window: Duration) -> String?
}

extension Store {
    public var revisionIsShared: Bool { false }
    public func recentRetriedFailure(within window: Duration) -> String? { nil }
}

extension Store {
    nonisolated(nonsending) public func list(prefix: String, after continueKey: String? = nil, limit: Int = 0)
        async throws(StoreError) -> ListResult
    {
        try await list(prefix: prefix, after: continueKey, limit: limit, revision: 0)
    }

    /// `create(_:value:lease:unchanged:)` with no other key to check.
    nonisolated(nonsending) public func create(_ key: String, value: [UInt8], lease: Int64 = 0)
        async throws(StoreError) -> Int64
    {
        try await create(key, value: value, lease: lease, unchanged: [])
    }

    /// `update(_:value:expectedRevision:unchanged:)` with no other key to check.
    nonisolated(nonsending) public func update(_ key: String, value: [UInt8], expectedRevision: Int64)
        async throws(StoreError) -> Int64
    {
        try await update(key, value: value, expectedRevision: expectedRevision, unchanged: [])
    }
}

/// The key naming a lease in `StoreError.notFound`.
func leaseKey(_ lease: Int64) -> String { "lease/\(lease)" }

extension Store {
    /// A store whose revision never goes back: a plain watch.
    public func watch(prefix: String, fromReached revision: Int64) async throws(StoreError) -> WatchStream {
        try await watch(prefix: prefix, fromRevision: revision)
    }
}
