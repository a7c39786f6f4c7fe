import Synchronization

/// The single writer: a queue that async callers append to, drained by one thread that owns the only
/// write connection (see `WriterThread`).
final class LogWriter: Sendable {
    struct Pending: Sendable {
        var request: WriteRequest
        var completion: WriteCompletion?
    }

    private struct Queue {
        var pending: [Pending] = []
        /// Set while the writer waits for writes; cleared by the submitter that wakes it.
        var parked = false
        /// While parked, the pending writes that wake the writer: 1, or more while it gathers a
        /// group commit (`gather(until:for:)`).
        var wakeAt = 1
        var closed = false
        /// Test hook: while set, the writer takes nothing (so a test can queue a known batch).
        var held = false
    }

    private let queue = Mutex(Queue())
    let signal = ThreadSignal()
    let threads = ThreadGroup()

    let hub: WatchHub
    let leases: LeaseTable
    let options: SQLiteStoreOptions
    /// The compaction revision of the last committed compaction step.
    let compactedRevision: Atomic<Int64>

    let writeTransactions = Atomic<Int>(0)
    let writesCompleted = Atomic<Int>(0)
    let compactionSteps = Atomic<Int>(0)
    let compactedRows = Atomic<Int>(0)
    let seals = Atomic<Int>(0)
    let commitNanoseconds = Atomic<Int>(0)
    let slowestCommitNanoseconds = Atomic<Int>(0)
    let writerCPU = ThreadCPUTime()
    /// The background checkpointer's monitor (nil: SQLite checkpoints inside commits).
    let wal: WALMonitor?

    private init(hub: WatchHub, leases: LeaseTable, options: SQLiteStoreOptions, compacted: Int64, wal: WALMonitor?) {
        self.wal = wal
        self.hub = hub
        self.leases = leases
        self.options = options
        self.compactedRevision = Atomic(compacted)
    }

    /// Opens the database at `path` on a new writer thread (creating and checking it) and starts
    /// serving writes. Returns the writer and the head revision found.
    static func open(path: String, directory: String, options: SQLiteStoreOptions) async throws(StoreError) -> (
        LogWriter, WatchHub
    ) {
        let leases = LeaseTable()
        let wal = options.checkpointPages.map { WALMonitor(checkpointPages: $0, walLimitPages: options.walLimitPages) }
        let opened: Result<(LogWriter, WatchHub), StoreError> = await withCheckedContinuation { continuation in
            startThread(name: "store-writer") {
                let connection: Connection
                let recovered: WriterThread.Recovered
                do throws(StoreError) {
                    (connection, recovered) = try WriterThread.openDatabase(path: path, directory: directory, options: options)
                } catch {
                    continuation.resume(returning: .failure(error))
                    return
                }
                var checkpointer: Checkpointer?
                if let wal {
                    do throws(StoreError) {
                        checkpointer = try Self.startCheckpoints(
                            writing: connection, path: path, options: options, monitor: wal)
                    } catch {
                        connection.close()
                        continuation.resume(returning: .failure(error))
                        return
                    }
                }
                let now = ContinuousClock.now
                for (id, ttl) in recovered.leases { leases.add(id, ttl: ttl, now: now) }
                let hub = WatchHub(published: recovered.head)
                let writer = LogWriter(
                    hub: hub, leases: leases, options: options, compacted: recovered.compacted, wal: wal)
                writer.threads.adopt()
                if let checkpointer {
                    writer.threads.adopt()
                    startThread(name: "store-ckpt") {
                        checkpointer.run()
                        writer.threads.finished()
                    }
                }
                continuation.resume(returning: .success((writer, hub)))
                let thread = WriterThread(writer: writer, connection: connection, recovered: recovered)
                thread.run()
                writer.threads.finished()
            }
        }
        return try opened.get()
    }

    /// Turns the writer connection's automatic checkpoints off and prepares the background
    /// checkpointer (see `WALMonitor`), which opens its own connection on its own thread.
    private static func startCheckpoints(
        writing connection: Connection, path: String, options: SQLiteStoreOptions, monitor: WALMonitor
    ) throws(StoreError) -> Checkpointer {
        try connection.execute("PRAGMA wal_autocheckpoint = 0")
        connection.reportCommits(to: monitor)
        return Checkpointer(
            path: path, vfs: options.vfsName, monitor: monitor, retryDelay: options.checkpointRetryDelay)
    }

    /// Queues `request` and waits for the transaction holding it to commit (or fail).
    nonisolated(nonsending) func submit(_ request: WriteRequest) async throws(StoreError) -> WriteOutcome {
        let result: Result<WriteOutcome, StoreError> = await withCheckedContinuation { continuation in
            let wake = queue.withLock { queue -> Bool? in
                if queue.closed { return nil }
                queue.pending.append(Pending(request: request, completion: continuation))
                guard queue.parked, queue.pending.count >= queue.wakeAt else { return false }
                queue.parked = false
                return true
            }
            switch wake {
            case nil: continuation.resume(returning: .failure(.unavailable(reason: "the store is closed")))
            case true?: signal.signal()
            case false?: break
            }
        }
        return try result.get()
    }

    /// Moves pending writes into `batch` up to the batch limits (`bytes`: the value bytes already
    /// in it); marks the writer parked when there were none. Returns whether the writer is closed.
    /// Taking all of them (the usual case) swaps the arrays: nothing is copied, and `batch`'s
    /// capacity (the writer passes its previous batch, emptied) is the queue's next.
    func take(into batch: inout [Pending], bytes: inout Int) -> Bool {
        queue.withLock { queue in
            queue.wakeAt = 1
            queue.parked = false
            if queue.held && !queue.closed {
                if batch.isEmpty { queue.parked = true }
                return false
            }
            let room = min(queue.pending.count, max(0, options.maxBatchWrites - batch.count))
            var end = 0
            while end < room, bytes < options.maxBatchBytes {
                bytes += queue.pending[end].request.payloadBytes
                end += 1
            }
            if end == queue.pending.count, batch.isEmpty {
                swap(&batch, &queue.pending)
            } else if end > 0 {
                batch.append(contentsOf: queue.pending[..<end])
                queue.pending.removeFirst(end)
            }
            if batch.isEmpty { queue.parked = true }
            return queue.closed
        }
    }

    /// Group commit's wait (see `SQLiteStoreOptions.groupCommitWait`): sleeps until `count` writes
    /// are pending, at most `timeout`; returns at once when they already are, or when closed or held.
    func gather(until count: Int, for timeout: Duration) {
        let wait = queue.withLock { queue -> Bool in
            guard queue.pending.count < count, !queue.closed, !queue.held else { return false }
            queue.parked = true
            queue.wakeAt = count
            return true
        }
        if wait { signal.wait(timeout: timeout) }
    }

    /// Test hook: holds the writer (it takes no writes) until released.
    func hold(_ held: Bool) {
        queue.withLock { $0.held = held }
        signal.signal()
    }

    /// Writes queued and not yet taken.
    var pendingCount: Int { queue.withLock { $0.pending.count } }

    /// Stops accepting writes; the thread finishes what is queued, then exits.
    func close() async {
        queue.withLock { $0.closed = true }
        signal.signal()
        wal?.close()
        await threads.waitUntilFinished()
    }

    var statistics: SQLiteStoreStatistics {
        SQLiteStoreStatistics(
            writeTransactions: writeTransactions.load(ordering: .relaxed),
            writesCompleted: writesCompleted.load(ordering: .relaxed),
            compactionSteps: compactionSteps.load(ordering: .relaxed),
            compactedRows: compactedRows.load(ordering: .relaxed),
            seals: seals.load(ordering: .relaxed),
            commitNanoseconds: commitNanoseconds.load(ordering: .relaxed),
            slowestCommitNanoseconds: slowestCommitNanoseconds.load(ordering: .relaxed),
            writerCPUNanoseconds: writerCPU.nanoseconds,
            checkpoints: wal?.checkpoints.load(ordering: .relaxed) ?? 0,
            checkpointFailures: wal?.checkpointFailures.load(ordering: .relaxed) ?? 0,
            checkpointNanoseconds: wal?.checkpointNanoseconds.load(ordering: .relaxed) ?? 0,
            limitCheckpoints: wal?.limitCheckpoints.load(ordering: .relaxed) ?? 0,
            limitCheckpointNanoseconds: wal?.limitCheckpointNanoseconds.load(ordering: .relaxed) ?? 0,
            checkpointerWakeups: wal?.wakeups.load(ordering: .relaxed) ?? 0,
            walFrames: wal?.frames.load(ordering: .relaxed) ?? 0,
            largestWALFrames: wal?.largestFrames.load(ordering: .relaxed) ?? 0)
    }
}
