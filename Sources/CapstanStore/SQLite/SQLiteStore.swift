import Synchronization

/// The embedded store: a SQLite database in a data directory (`store.db`, its WAL, and `LOCK`).
///
/// Open it with `open(directory:options:)` and `close()` it when done (that releases the directory);
/// see the module documentation for how it works.
public final class SQLiteStore: Store {
    public let directory: String
    let options: SQLiteStoreOptions
    private let lock: DirectoryLock
    let writer: LogWriter
    let readers: ReaderPool
    private let hub: WatchHub
    private let closed = Atomic<Bool>(false)

    private init(directory: String, options: SQLiteStoreOptions, lock: DirectoryLock, writer: LogWriter,
                 readers: ReaderPool, hub: WatchHub) {
        self.directory = directory
        self.options = options
        self.lock = lock
        self.writer = writer
        self.readers = readers
        self.hub = hub
    }

    /// The database file inside `directory`.
    public static func databasePath(directory: String) -> String { directory + "/store.db" }

    /// Opens (creating if needed) the store in `directory`. Fails with `unavailable` when another
    /// store holds the directory (naming its pid), or when the database is corrupt or not a database.
    public static func open(directory: String, options: SQLiteStoreOptions = SQLiteStoreOptions())
        async throws(StoreError) -> SQLiteStore
    {
        let lock = try await DirectoryLock.acquire(directory: directory)
        let path = databasePath(directory: directory)
        let writer: LogWriter
        let hub: WatchHub
        do throws(StoreError) {
            try DirectoryLock.createOwnerOnly(path)
            (writer, hub) = try await LogWriter.open(path: path, directory: directory, options: options)
        } catch {
            lock.unlock()
            throw error
        }
        let readers: ReaderPool
        do throws(StoreError) {
            readers = try await ReaderPool.open(path: path, count: options.readers, vfs: options.vfsName)
        } catch {
            await writer.close()
            lock.unlock()
            throw error
        }
        return SQLiteStore(
            directory: directory, options: options, lock: lock, writer: writer, readers: readers, hub: hub)
    }

    /// Finishes queued writes, ends every watch with `unavailable`, closes the database and releases
    /// the directory. Later calls fail with `unavailable`.
    public func close() async {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        await writer.close()
        hub.close(.unavailable(reason: "the store is closed"))
        await readers.close()
        lock.unlock()
    }

    /// A store dropped without `close()` still shuts down: its threads finish what is queued, then
    /// the directory is released (asynchronously, so reopening right after a drop may find it held).
    deinit {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let (writer, hub, readers, lock) = (writer, hub, readers, lock)
        Task {
            await writer.close()
            hub.close(.unavailable(reason: "the store is closed"))
            await readers.close()
            lock.unlock()
        }
    }

    /// Counters of group commits and compaction (for tests and benchmarks).
    public var statistics: SQLiteStoreStatistics { writer.statistics }

    // MARK: Reads

    nonisolated(nonsending) public func get(_ key: String) async throws(StoreError) -> KeyValue {
        try validate(key: key)
        let row = try await readers.read { connection throws(StoreError) in try connection.latestRow(key) }
        guard let row, !row.deleted else { throw .notFound(key: key) }
        return row.keyValue
    }

    nonisolated(nonsending) public func list(prefix: String, after continueKey: String?, limit: Int, revision: Int64)
        async throws(StoreError) -> ListResult
    {
        guard limit >= 0, revision >= 0 else { throw .invalid(reason: "limit and revision must not be negative") }
        let start = KeyRange.start(prefix: prefix, after: continueKey)
        let end = KeyRange.end(ofPrefix: prefix)
        return try await readers.read { connection throws(StoreError) in
            try connection.readTransaction { () throws(StoreError) in
                let compacted = try connection.compactRevision()
                let head = try connection.headRevision()
                let at = revision == 0 ? head : revision
                if at < compacted { throw .compacted(requested: at, compactedRevision: compacted) }
                if at > head {
                    throw .invalid(reason: "revision \(at) is in the future: the current revision is \(head)")
                }
                let (rows, more) = try connection.listRows(start: start, end: end, revision: at, limit: limit)
                return ListResult(items: rows.map(\.keyValue), revision: at, more: more)
            }
        }
    }

    public func currentRevision() async throws(StoreError) -> Int64 {
        try checkOpen()
        return hub.published
    }

    /// Passes through the writer's queue like a write: fails while the writer cannot write (it
    /// stopped after a failed rollback, or a failed commit could not be sealed yet; the probe's
    /// batch tries the seal again, so the store recovers without waiting for a write), and waits
    /// while the writer is busy or stuck, as a write would.
    public func checkWritable() async throws(StoreError) {
        try checkOpen()
        _ = try await writer.submit(.probe)
    }

    // MARK: Writes

    nonisolated(nonsending) public func create(_ key: String, value: [UInt8], lease: Int64, unchanged: [KeyRevision])
        async throws(StoreError) -> Int64
    {
        try validate(key: key, value: value)
        try validate(unchanged)
        guard
            case .revision(let revision) = try await writer.submit(
                .create(key: key, value: value, lease: lease, unchanged: unchanged))
        else { throw unexpected() }
        return revision
    }

    nonisolated(nonsending) public func update(
        _ key: String, value: [UInt8], expectedRevision: Int64, unchanged: [KeyRevision]
    ) async throws(StoreError) -> Int64 {
        try validate(key: key, value: value)
        try validate(unchanged)
        guard
            case .revision(let revision) = try await writer.submit(
                .update(key: key, value: value, expectedRevision: expectedRevision, unchanged: unchanged))
        else { throw unexpected() }
        return revision
    }

    nonisolated(nonsending) public func delete(_ key: String, expectedRevision: Int64)
        async throws(StoreError) -> KeyValue
    {
        try validate(key: key)
        guard case .deleted(let entry) = try await writer.submit(.delete(key: key, expectedRevision: expectedRevision))
        else { throw unexpected() }
        return entry
    }

    public func compact(_ revision: Int64) async throws(StoreError) {
        _ = try await writer.submit(.compact(revision))
    }

    // MARK: Leases

    public func grantLease(ttl: Duration) async throws(StoreError) -> Int64 {
        guard ttl > .zero else { throw .invalid(reason: "a lease needs a positive TTL") }
        guard case .lease(let id) = try await writer.submit(.grantLease(ttl: ttl)) else { throw unexpected() }
        return id
    }

    public func keepAlive(_ lease: Int64) async throws(StoreError) -> Duration {
        try checkOpen()
        guard let ttl = writer.leases.keepAlive(lease) else { throw .notFound(key: leaseKey(lease)) }
        return ttl
    }

    public func revokeLease(_ lease: Int64) async throws(StoreError) {
        _ = try await writer.submit(.revokeLease(lease, ifExpired: false))
    }

    // MARK: Watch

    public func watch(prefix: String, fromRevision: Int64) async throws(StoreError) -> WatchStream {
        try checkOpen()
        guard fromRevision >= 0 else { throw .invalid(reason: "a watch cannot start before revision 0") }
        let compacted = writer.compactedRevision.load(ordering: .acquiring)
        if fromRevision < compacted { throw .compacted(requested: fromRevision, compactedRevision: compacted) }
        let start = KeyRange.start(prefix: prefix, after: nil)
        let end = KeyRange.end(ofPrefix: prefix)
        let readers = readers
        let watcher = LogWatcher(
            id: hub.makeID(), prefix: prefix, fromRevision: fromRevision, capacity: options.watcherQueueCapacity,
            chunk: options.historyChunk, hub: hub
        ) { after, through, limit throws(StoreError) in
            try await readers.read { connection throws(StoreError) in
                try connection.readTransaction { () throws(StoreError) in
                    let compacted = try connection.compactRevision()
                    if after < compacted { throw .compacted(requested: after, compactedRevision: compacted) }
                    return try connection.historyRows(after: after, through: through, start: start, end: end, limit: limit)
                        .map(\.event)
                }
            }
        }
        return WatchStream(source: watcher)
    }

    // MARK: Checks

    private func checkOpen() throws(StoreError) {
        if closed.load(ordering: .acquiring) { throw .unavailable(reason: "the store is closed") }
    }

    private func validate(_ unchanged: [KeyRevision]) throws(StoreError) {
        for other in unchanged {
            try validate(key: other.key)
            guard other.modRevision > 0 else {
                throw .invalid(reason: "the revision required of \(other.key) must be positive")
            }
        }
    }

    private func validate(key: String, value: [UInt8]? = nil) throws(StoreError) {
        try checkOpen()
        if key.isEmpty { throw .invalid(reason: "the key is empty") }
        if key.utf8.count > options.maxKeyBytes {
            throw .invalid(reason: "the key is \(key.utf8.count) bytes; the limit is \(options.maxKeyBytes)")
        }
        if let value, value.count > options.maxValueBytes {
            throw .invalid(reason: "the value of \(key) is \(value.count) bytes; the limit is \(options.maxValueBytes)")
        }
    }

    private func unexpected() -> StoreError {
        .unavailable(reason: "internal error: the writer answered with the wrong kind of outcome")
    }
}
