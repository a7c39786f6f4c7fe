import Synchronization

/// Background WAL checkpoints, off the commit path.
///
/// SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL past 1000 pages: that
/// commit copies the WAL into the database file and syncs it while every writer of the next group
/// commit waits. Instead, the writer connection has automatic checkpoints off and reports the WAL's
/// size after each commit (`WALMonitor`); this thread, with a connection of its own, checkpoints
/// when the WAL holds `checkpointPages` or more:
///
/// - PASSIVE: copies the committed frames no reader still needs, without taking the write lock, so
///   commits go on meanwhile. Once everything is copied, the writer's next transaction starts the
///   WAL over from its beginning (SQLite does this itself), so the file stops growing.
/// - TRUNCATE, only when the WAL has reached `walLimitPages` (readers kept it from starting over, or
///   writes outran the copying): it waits, at most the busy timeout, for the writer and readers,
///   copies everything and empties the WAL file. Writers wait for it; it bounds the WAL's size.
///
/// Durability does not change: commits are durable when the WAL is synced at COMMIT; a checkpoint
/// only copies committed pages into the database file. A checkpoint that fails (an I/O error on the
/// database file) leaves the WAL as it was; it is retried after `retryDelay`. A failed commit's
/// frames (see `WriterThread`) lie past the last commit, where no checkpoint reads.
///
/// `close` lets a running checkpoint finish, then the thread closes its connection and ends.
final class WALMonitor: Sendable {
    let checkpointPages: Int
    let signal = ThreadSignal()
    /// WAL frames after the last commit.
    let frames = Atomic<Int>(0)
    let largestFrames = Atomic<Int>(0)
    let closed = Atomic<Bool>(false)

    let checkpoints = Atomic<Int>(0)
    let truncations = Atomic<Int>(0)
    let checkpointFailures = Atomic<Int>(0)
    let checkpointNanoseconds = Atomic<Int>(0)

    init(checkpointPages: Int) {
        self.checkpointPages = max(1, checkpointPages)
    }

    /// Called on the writer thread after each commit, with the WAL's size in frames.
    func committed(frames: Int) {
        self.frames.store(frames, ordering: .relaxed)
        if frames > largestFrames.load(ordering: .relaxed) { largestFrames.store(frames, ordering: .relaxed) }
        if frames >= checkpointPages { signal.signal() }
    }

    func close() {
        closed.store(true, ordering: .releasing)
        signal.signal()
    }
}

/// The checkpointer thread's loop (see `WALMonitor`).
struct Checkpointer {
    let connection: Connection
    let monitor: WALMonitor
    let walLimitPages: Int
    let retryDelay: Duration

    func run() {
        // Frames copied by the last pass, to tell progress from a reader holding the WAL.
        var lastCopied = -1
        while !monitor.closed.load(ordering: .acquiring) {
            let frames = monitor.frames.load(ordering: .relaxed)
            guard frames >= monitor.checkpointPages else {
                monitor.signal.wait(timeout: .seconds(1))
                continue
            }
            let mode: Connection.CheckpointMode = frames >= walLimitPages ? .truncate : .passive
            let start = ContinuousClock.now
            let result: (walFrames: Int, checkpointed: Int)
            do throws(StoreError) {
                result = try connection.checkpoint(mode)
            } catch {
                monitor.checkpointFailures.add(1, ordering: .relaxed)
                lastCopied = -1
                monitor.signal.wait(timeout: retryDelay)
                continue
            }
            let elapsed = ContinuousClock.now - start
            monitor.checkpointNanoseconds.add(
                Int(elapsed.components.seconds) * 1_000_000_000 + Int(elapsed.components.attoseconds / 1_000_000_000),
                ordering: .relaxed)
            monitor.checkpoints.add(1, ordering: .relaxed)
            if mode == .truncate { monitor.truncations.add(1, ordering: .relaxed) }
            if result.checkpointed >= result.walFrames {
                // All copied: the writer's next transaction starts the WAL over; wait for its report
                // (unless a commit reported meanwhile).
                _ = monitor.frames.compareExchange(expected: frames, desired: 0, ordering: .relaxed)
                lastCopied = -1
                monitor.signal.wait(timeout: .seconds(1))
            } else if result.checkpointed == lastCopied {
                // No progress: a reader still needs those frames. Try again shortly.
                monitor.signal.wait(timeout: .milliseconds(20))
            } else {
                lastCopied = result.checkpointed
            }
        }
        connection.close()
    }
}
