/// Tuning for `SQLiteStore`. The defaults suit a single-node cluster; tests shrink them.
public struct SQLiteStoreOptions: Sendable {
    /// How much history background compaction keeps: at least the last `revisions` revisions and
    /// everything written in the last `duration`. nil disables background compaction (explicit
    /// `compact(_:)` still works).
    public struct Retention: Sendable, Hashable {
        public var revisions: Int64
        public var duration: Duration

        public init(revisions: Int64, duration: Duration) {
            self.revisions = revisions
            self.duration = duration
        }
    }

    public var retention: Retention? = Retention(revisions: 1000, duration: .seconds(300))
    /// Revisions one compaction transaction covers; small, so writers never wait long.
    public var compactionStep: Int = 512
    /// Read connections, each on its own thread.
    public var readers: Int = 2
    /// Most writes one group-commit transaction takes, and most bytes of values.
    public var maxBatchWrites: Int = 1024
    public var maxBatchBytes: Int = 32 << 20
    /// Group commit's wait (like PostgreSQL's `commit_delay`): the longest the writer holds a batch
    /// back for more writes. Only when the last batch had writes of several callers and this one
    /// has fewer so far, and only until as many are pending as the last batch had (at most
    /// `maxBatchWrites`): a lone writer never waits, a steady set of callers is gathered as soon as
    /// it is back, and after a burst ends one write may wait this long once. Every write is still
    /// synced before it is acknowledged; fewer, larger commits cost less CPU per write (the sync,
    /// the WAL's write and the wake-ups are per commit). Off (`.zero`) by default: through the API
    /// server with 16 callers, 1 ms took commits from about 6 to about 10 writes and the writer
    /// thread's CPU per write down by about a sixth, but creates/s fell by about 15 %, since the
    /// callers' next requests wait too; it pays only where CPU, not latency, limits the writers.
    public var groupCommitWait: Duration = .zero
    /// Largest value accepted.
    public var maxValueBytes: Int = 16 << 20
    /// Longest key accepted, in UTF-8 bytes.
    public var maxKeyBytes: Int = 8 << 10
    /// Events a watcher buffers before it leaves the live fan-out and reads its backlog from the table.
    public var watcherQueueCapacity: Int = 4096
    /// Rows a catching-up watcher reads per query.
    public var historyChunk: Int = 512
    /// Most bytes the database file may grow to (whole pages; nil: only the disk limits it). A write
    /// that needs more fails with `unavailable` and writes nothing; compaction frees space for more.
    public var maxDatabaseBytes: Int?
    /// WAL pages (of 4 KiB) at which a background thread checkpoints, copying the WAL into the
    /// database file off the commit path (see `WALMonitor`). nil: SQLite's automatic checkpoint at
    /// 1000 pages instead, run inside the commit that crosses it.
    public var checkpointPages: Int? = 1000
    /// WAL pages at which the writer checkpoints between batches (what the background checkpointer
    /// has not copied yet) so the WAL starts over: the bound on the WAL's size when a steady stream
    /// of commits keeps it from starting over by itself.
    public var walLimitPages: Int = 16384
    /// How long the background checkpointer waits before retrying a checkpoint that failed.
    public var checkpointRetryDelay: Duration = .seconds(1)
    /// Bytes of the buffer in which the writer gathers a commit's WAL writes, to write them with one
    /// system call before the commit's fsync instead of two per page (see `WALWriteBuffer`); a
    /// commit larger than this is written in several. At most (and by default) 124 KiB, since
    /// SQLite's unix VFS writes less than 128 KiB per call: a group commit of up to 30 pages is one
    /// write. 0: SQLite writes each frame itself. Durability is the same either way.
    public var walWriteBufferBytes: Int = WALWriteBuffer.largestWrite
    /// The registered SQLite VFS to open the database with (nil: SQLite's default). Tests use one
    /// that injects I/O errors beneath SQLite.
    public var vfsName: String?

    public init() {}
}
