/// A write submitted to the writer thread.
enum WriteRequest: Sendable {
    /// `unchanged`: other keys that must still be at these mod revisions.
    case create(key: String, value: [UInt8], lease: Int64, unchanged: [KeyRevision])
    case update(key: String, value: [UInt8], expectedRevision: Int64, unchanged: [KeyRevision])
    case delete(key: String, expectedRevision: Int64)
    case grantLease(ttl: Duration)
    /// `ifExpired`: the writer's own expiry sweep, skipped if a keep-alive won the race.
    case revokeLease(Int64, ifExpired: Bool)
    case compact(Int64)
    /// Writes nothing: answered `done` once a batch holding it could be written (see
    /// `SQLiteStore.checkWritable`).
    case probe

    /// Value bytes, for batch sizing.
    var payloadBytes: Int {
        switch self {
        case .create(_, let value, _, _), .update(_, let value, _, _): value.count
        default: 0
        }
    }
}

enum WriteOutcome: Sendable {
    case revision(Int64)
    case deleted(KeyValue)
    case lease(Int64)
    case done
}

typealias WriteCompletion = CheckedContinuation<Result<WriteOutcome, StoreError>, Never>

/// Counters for tests and benchmarks.
public struct SQLiteStoreStatistics: Sendable, Hashable {
    /// Write transactions committed (group commits; compaction steps not included).
    public var writeTransactions: Int
    /// Writes acknowledged (including failed checks such as conflicts).
    public var writesCompleted: Int
    /// Compaction transactions committed, and log rows they removed.
    public var compactionSteps: Int
    public var compactedRows: Int
    /// Seals committed after failed commits (see the module documentation).
    public var seals: Int
    /// Time spent in group commits' COMMIT statements (syncing the WAL, and with SQLite's automatic
    /// checkpoints, checkpointing), in total and the longest one.
    public var commitNanoseconds: Int
    public var slowestCommitNanoseconds: Int
    /// CPU time the writer thread has used (applying, committing, publishing and answering writes,
    /// compaction steps and checkpoints at the WAL's limit), read from its CPU clock.
    public var writerCPUNanoseconds: Int
    /// Background checkpoints run (0 with SQLite's automatic checkpoints), those that failed (and
    /// were retried), and the time they took.
    public var checkpoints: Int
    public var checkpointFailures: Int
    public var checkpointNanoseconds: Int
    /// Checkpoints the writer ran between batches at the WAL's limit, and the time they took.
    public var limitCheckpoints: Int
    public var limitCheckpointNanoseconds: Int
    /// Times a commit woke the background checkpointer (about once per background checkpoint).
    public var checkpointerWakeups: Int
    /// WAL frames after the last commit, and the most seen after any commit (background checkpoints only).
    public var walFrames: Int
    public var largestWALFrames: Int
}
