import CapstanStore
import Synchronization

/// The store as the registries write to it: a write that fails without the store knowing whether
/// it was applied (etcd: "the request may still take effect: read the object before repeating
/// it") is reported to `CacheProgress.noteUncertainWrite`, so that the read its client makes next
/// sees it if it was applied. Such a write may sit at a revision the watch caches have not
/// reached (the connection to etcd broke, and the cache's feed with it), and a read served from
/// the caches alone would then answer NOT_FOUND for an object that exists. Everything else is
/// passed through.
struct UncertainWrites: Store {
    let store: any Store
    let progress: CacheProgress

    /// `error`, noted first if it leaves the write's outcome open. (A `do`/`catch` in each write,
    /// not a helper taking the write as a closure: that would run off the caller's executor.)
    private func noted(_ error: StoreError) -> StoreError {
        if error.writeMayHaveTakenEffect { progress.noteUncertainWrite() }
        return error
    }

    nonisolated(nonsending) func get(_ key: String) async throws(StoreError) -> KeyValue {
        try await store.get(key)
    }

    nonisolated(nonsending) func list(prefix: String, after continueKey: String?, limit: Int, revision: Int64)
        async throws(StoreError) -> ListResult
    {
        try await store.list(prefix: prefix, after: continueKey, limit: limit, revision: revision)
    }

    nonisolated(nonsending) func create(_ key: String, value: [UInt8], lease: Int64, unchanged: [KeyRevision])
        async throws(StoreError) -> Int64
    {
        do { return try await store.create(key, value: value, lease: lease, unchanged: unchanged) } catch { throw noted(error) }
    }

    nonisolated(nonsending) func update(
        _ key: String, value: [UInt8], expectedRevision: Int64, unchanged: [KeyRevision]
    ) async throws(StoreError) -> Int64 {
        do {
            return try await store.update(key, value: value, expectedRevision: expectedRevision, unchanged: unchanged)
        } catch {
            throw noted(error)
        }
    }

    nonisolated(nonsending) func delete(_ key: String, expectedRevision: Int64) async throws(StoreError) -> KeyValue {
        do { return try await store.delete(key, expectedRevision: expectedRevision) } catch { throw noted(error) }
    }

    func watch(prefix: String, fromRevision: Int64) async throws(StoreError) -> WatchStream {
        try await store.watch(prefix: prefix, fromRevision: fromRevision)
    }

    func watch(prefix: String, fromReached revision: Int64) async throws(StoreError) -> WatchStream {
        try await store.watch(prefix: prefix, fromReached: revision)
    }

    func compact(_ revision: Int64) async throws(StoreError) { try await store.compact(revision) }
    func currentRevision() async throws(StoreError) -> Int64 { try await store.currentRevision() }
    func checkWritable() async throws(StoreError) { try await store.checkWritable() }
    func grantLease(ttl: Duration) async throws(StoreError) -> Int64 { try await store.grantLease(ttl: ttl) }
    func keepAlive(_ lease: Int64) async throws(StoreError) -> Duration { try await store.keepAlive(lease) }
    func revokeLease(_ lease: Int64) async throws(StoreError) {
        do { try await store.revokeLease(lease) } catch { throw noted(error) }
    }
    var revisionIsShared: Bool { store.revisionIsShared }
    func recentRetriedFailure(within window: Duration) -> String? { store.recentRetriedFailure(within: window) }
}

/// The store's head for the reads that follow a write of unknown outcome
/// (`CacheProgress.needsStoreRevision`), as a revision the watch caches will reach: on a store
/// whose revision others move too (etcd) the head may be another program's write, which no
/// registry event brings, so it is taken from the feed's fence key (`CacheFeed.fencedHead`).
/// Concurrent reads share one asking of the store, begun after the latest such write, so a
/// burst of reads makes one fence write, not one each.
final class StoreHead: Sendable {
    let store: any Store
    private let asking = Mutex<(task: Task<Result<Int64, StoreError>, Never>, started: ContinuousClock.Instant)?>(nil)

    init(store: any Store) {
        self.store = store
    }

    /// A head at or after every write of unknown outcome noted up to `uncertainAt`.
    func head(after uncertainAt: ContinuousClock.Instant) async throws(StoreError) -> Int64 {
        let store = store
        let task = asking.withLock { asking in
            if let current = asking, current.started >= uncertainAt { return current.task }
            let task = Task { () -> Result<Int64, StoreError> in
                do throws(StoreError) { return .success(try await CacheFeed.fencedHead(of: store)) } catch { return .failure(error) }
            }
            asking = (task, .now)
            return task
        }
        let result = await task.value
        asking.withLock { asking in
            if let current = asking, current.task == task { asking = nil }
        }
        return try result.get()
    }
}
