import Synchronization

/// The writer thread's state and loop. Everything here runs on that one thread and owns the only
/// write connection; other threads reach it through `LogWriter`'s queue.
///
/// Group commit: each pass takes every pending write (up to the batch limits; with
/// `SQLiteStoreOptions.groupCommitWait` set, off by default, when the last batch showed several
/// callers and fewer are pending now, after waiting briefly for about as many), applies each in order
/// with its check inside one `BEGIN IMMEDIATE … COMMIT`, then publishes the batch's events to the
/// hub and resumes the callers. Checks see the writes before them in the batch. A check that fails
/// (conflict, already exists …) fails only its write; an SQLite error (a full disk or database, an
/// I/O error) rolls the whole batch back and fails all of it: nothing of it is published, and its
/// revisions are used again by the next batch, since nobody saw them.
///
/// A failed COMMIT needs one more step. SQLite appends a transaction's pages to the WAL and then
/// syncs it; when the sync (or a later write) fails, SQLite rolls back and no connection sees the
/// transaction, but its frames, commit frame included, may still lie in the WAL after the last
/// committed transaction, where recovery after a crash would find and apply them. The next commit
/// overwrites them (SQLite appends where the last commit ended, and recovery stops at the first
/// frame whose checksum does not follow), so before answering the batch the writer *seals*: it
/// commits a one-row write of its own (`meta.failed_commits`). Sealed, the batch is certainly not
/// written, and its writers are told so. If the seal fails too (the fault persists), they are told
/// the outcome is unknown, and every later batch fails, unwritten, until a seal succeeds; once the
/// fault clears, the store goes on without being reopened.
final class WriterThread {
    struct Recovered {
        var head: Int64
        var compacted: Int64
        var leases: [(Int64, Duration)]
    }

    let writer: LogWriter
    let connection: Connection
    let options: SQLiteStoreOptions
    /// Newest committed revision.
    var head: Int64
    var compacted: Int64
    /// Highest revision an explicit `compact` asked for, and the callers waiting for it.
    var requestedCompaction: Int64
    var compactionWaiters: [(revision: Int64, completion: WriteCompletion)] = []
    var lastCompactionStep = ContinuousClock.now
    /// (revision, time) samples, at most one a second, for the time part of the retention window:
    /// history present when the store opened counts as written then.
    var samples: [(revision: Int64, time: ContinuousClock.Instant)]
    var sampleBucketStart = ContinuousClock.now
    /// Where the current compaction run is heading.
    var compactionTarget: Int64 = 0
    /// Set when a ROLLBACK failed: the connection's state is unknown, so the writer refuses every write
    /// until the store is reopened.
    var broken: StoreError?
    /// Set when a COMMIT failed and no seal has committed since (see the type's documentation): the
    /// commit's error.
    var unsealed: StoreError?
    /// Set when a batch failed for want of space (SQLITE_FULL: the disk, or `maxDatabaseBytes`),
    /// until a commit or a compaction step succeeds: while set, `checkWritable` fails, so health
    /// says what every write meets. A write is still tried, and one that fits clears it.
    var full: StoreError?
    /// After a failed batch, expired leases are retried no sooner than this (no hot loop on a full disk).
    var retryExpiryAfter = ContinuousClock.now
    /// WAL frames when the writer last checkpointed at the WAL's limit (0: not since it started over).
    var limitCheckpointFrames = 0
    /// After a failed compaction step, background compaction waits until this.
    var retryCompactionAfter = ContinuousClock.now
    /// Callers' writes in the last batch: the concurrency group commit's wait expects.
    var lastBatchWrites = 0
    /// The write path's statements, once prepared (`prepared(_:_:)`): the connection's cache would
    /// hash their text on every write.
    var insertStatement: Statement?
    var latestStatement: Statement?
    var latestWithValueStatement: Statement?
    var beginStatement: Statement?
    var commitStatement: Statement?

    init(writer: LogWriter, connection: Connection, recovered: Recovered) {
        self.writer = writer
        self.connection = connection
        self.options = writer.options
        self.head = recovered.head
        self.compacted = recovered.compacted
        self.requestedCompaction = recovered.compacted
        self.samples = [(recovered.head, .now)]
    }

    // MARK: Opening

    /// Opens or creates the database, checks it, and reads what the writer needs to resume.
    static func openDatabase(path: String, directory: String, options: SQLiteStoreOptions) throws(StoreError) -> (
        Connection, Recovered
    ) {
        let vfs =
            options.walWriteBufferBytes > 0
            ? try WALWriteBuffer.vfsName(over: options.vfsName, bufferBytes: options.walWriteBufferBytes)
            : options.vfsName
        let connection = try Connection(path: path, create: true, vfs: vfs)
        do throws(StoreError) {
            try connection.execute(Schema.connectionPragmas)
            // Every commit must sync the WAL: acknowledged writes are durable, and `WALWriteBuffer`
            // writes its buffer at that sync.
            let synchronous = try connection.scalarText("PRAGMA synchronous")
            guard synchronous == "2" || synchronous == "3" else {
                throw StoreError.unavailable(reason: "cannot set synchronous = FULL on \(path) (it is \(synchronous ?? "?"))")
            }
            let mode = try connection.scalarText("PRAGMA journal_mode = WAL")
            guard mode?.lowercased() == "wal" else {
                throw StoreError.unavailable(reason: "cannot put \(path) in WAL mode (journal mode is \(mode ?? "?"))")
            }
            let check = try connection.column("PRAGMA quick_check", limit: 10)
            guard check == ["ok"] else {
                throw StoreError.unavailable(
                    reason: "the database \(path) is corrupt (quick_check: \(check.joined(separator: "; "))); "
                        + "move it aside and restore it from a backup")
            }
            let version = Int64(try connection.scalarText("PRAGMA user_version") ?? "0") ?? 0
            guard version <= Schema.version else {
                throw StoreError.unavailable(
                    reason: "\(path) has schema version \(version), newer than this build's \(Schema.version)")
            }
            try connection.execute("BEGIN IMMEDIATE")
            do throws(StoreError) {
                try connection.execute(Schema.create + Schema.migrate + "PRAGMA user_version = \(Schema.version);")
                try connection.execute("COMMIT")
            } catch {
                try? connection.execute("ROLLBACK")
                throw error
            }
            if let maxBytes = options.maxDatabaseBytes {
                let pageSize = Int(try connection.scalarText("PRAGMA page_size") ?? "") ?? 4096
                // SQLite keeps the limit at or above the database's current size.
                try connection.execute("PRAGMA max_page_count = \(max(1, maxBytes / pageSize))")
            }
            do {
                try syncDirectory(directory)
            } catch {
                throw StoreError.unavailable(reason: "cannot sync the data directory: \(error)")
            }
            var leases: [(Int64, Duration)] = []
            let statement = try connection.statement("SELECT id, ttl_ms FROM leases")
            while try statement.step() {
                leases.append((statement.int64(0), .milliseconds(statement.int64(1))))
            }
            statement.reset()
            let recovered = Recovered(
                head: try connection.headRevision(), compacted: try connection.compactRevision(), leases: leases)
            try HeadMark.check(head: recovered.head, database: path)
            return (connection, recovered)
        } catch {
            connection.close()
            throw error
        }
    }

    // MARK: Loop

    /// How many more pending writes are worth waiting for before committing `taken` (nil: commit
    /// now). Only when the last batch showed concurrency (several callers' writes) and this one has
    /// fewer so far: then about as many callers are likely on their way. A lone writer never waits.
    func gatherTarget(taken: Int) -> Int? {
        guard options.groupCommitWait > .zero, taken > 0, lastBatchWrites >= 2, taken < lastBatchWrites else {
            return nil
        }
        let target = min(lastBatchWrites, options.maxBatchWrites)
        return taken < target ? target - taken : nil
    }

    func run() {
        // Each pass commits one batch, runs one compaction step, or parks until woken, the next lease
        // deadline or a one-second housekeeping tick. It ends once closed and drained.
        // Statistics read the thread's CPU clock themselves (a system call per pass here before).
        writer.writerCPU.started(clock: currentThreadCPUClock())
        defer { writer.writerCPU.finished(nanoseconds: currentThreadCPUNanoseconds()) }
        // The batch array is reused: `take` hands its capacity to the queue.
        var work: [LogWriter.Pending] = []
        while true {
            var bytes = 0
            var closed = writer.take(into: &work, bytes: &bytes)
            if !closed, let more = gatherTarget(taken: work.count) {
                writer.gather(until: more, for: options.groupCommitWait)
                closed = writer.take(into: &work, bytes: &bytes)
            }
            let writes = work.count
            let now = ContinuousClock.now
            for lease in now >= retryExpiryAfter ? writer.leases.expired(now: now) : [] {
                work.append(LogWriter.Pending(request: .revokeLease(lease, ifExpired: true), completion: nil))
            }
            if !work.isEmpty {
                lastBatchWrites = writes
                runBatch(work)
                work.removeAll(keepingCapacity: true)
                checkpointAtLimit()
                if compactionDue(now: .now) { compactionStep() }
                continue
            }
            if compactionDue(now: now) {
                compactionStep()
                continue
            }
            if closed { break }
            var timeout = Duration.seconds(1)
            if let deadline = writer.leases.nextDeadline() {
                timeout = min(timeout, max(.zero, max(deadline, retryExpiryAfter) - now))
            }
            writer.signal.wait(timeout: timeout)
        }
        let closedError = StoreError.unavailable(reason: "the store is closed")
        for waiter in compactionWaiters { waiter.completion.resume(returning: .failure(closedError)) }
        compactionWaiters = []
        // A clean close leaves every commit in the database file and an empty WAL, so the file alone
        // is a complete copy and the next open replays nothing. Not after a failed COMMIT that no
        // seal has followed: then the WAL is left exactly as it is for the next open to recover.
        if unsealed == nil { _ = connection.checkpointAndTruncate(wait: 2000) }
        connection.close()
    }
}
