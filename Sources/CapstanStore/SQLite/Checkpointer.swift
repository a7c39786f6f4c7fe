import Synchronization

/// Background WAL checkpoints, off the commit path.
///
/// SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL past 1000 pages: that
/// commit copies the WAL into the database file and syncs it while every writer of the next group
/// commit waits. Instead, the writer connection has automatic checkpoints off and reports the WAL's
/// size after each commit (`WALMonitor`); this thread, with a connection of its own, checkpoints
/// each time `checkpointPages` more frames have been committed.
///
/// Each pass is PASSIVE: it copies the committed frames no reader still needs, without taking the
/// write lock, so commits go on meanwhile. SQLite starts the WAL over from its beginning when a
/// transaction begins with everything copied; under a steady stream of commits that moment rarely
/// comes (the checkpointer is always a few commits behind), so at `walLimitPages` the writer itself
/// checkpoints between two batches (`WriterThread.checkpointAtLimit`): only the frames committed
/// since the background pass, and the database file's sync, so it holds writes up for about one
/// commit's time, once per `walLimitPages`; its next transaction then starts the WAL over. The WAL
/// file is reused, not truncated, so it stays about `walLimitPages` long and commits do not grow it.
/// (A reader holding an old snapshot can delay the restart; the writer tries again every
/// `checkpointPages` frames.)
///
/// Durability does not change: commits are durable when the WAL is synced at COMMIT; a checkpoint
/// only copies committed pages into the database file. A checkpoint that fails (an I/O error on the
/// database file) leaves the WAL as it was; it is retried after `retryDelay`, as is opening the
/// checkpointer's own connection (on its thread, when the first checkpoint is due). A failed commit's
/// frames (see `WriterThread`) lie past the last commit, where no checkpoint reads.
///
/// `close` lets a running checkpoint finish, then the thread closes its connection and ends.
final class WALMonitor: Sendable {
    let checkpointPages: Int
    let walLimitPages: Int
    let signal = ThreadSignal()
    /// WAL frames after the last commit.
    let frames = Atomic<Int>(0)
    /// Frames of the current WAL the background checkpointer has copied into the database file
    /// (set by the checkpointer; more than `frames` once the WAL started over).
    let copied = Atomic<Int>(0)
    let largestFrames = Atomic<Int>(0)
    let closed = Atomic<Bool>(false)
    /// Times a commit woke the checkpointer (once per pass due, not once per commit).
    let wakeups = Atomic<Int>(0)
    /// The writer's last committed (so synced) revision, for the head mark (`HeadMark`).
    let committedHead = Atomic<Int64>(0)
    let headMarks = Atomic<Int>(0)

    let checkpoints = Atomic<Int>(0)
    /// Checkpoints the writer ran at the limit, and their time.
    let limitCheckpoints = Atomic<Int>(0)
    let limitCheckpointNanoseconds = Atomic<Int>(0)
    let checkpointFailures = Atomic<Int>(0)
    let checkpointNanoseconds = Atomic<Int>(0)

    init(checkpointPages: Int, walLimitPages: Int) {
        self.checkpointPages = max(1, checkpointPages)
        self.walLimitPages = max(self.checkpointPages, walLimitPages)
    }

    /// Called on the writer thread after each commit, with the WAL's size in frames. Wakes the
    /// checkpointer only when a pass is due (`checkpointPages` frames past what it copied): waking
    /// it after every commit once the WAL is that long would cost two context switches a commit.
    /// A pass running meanwhile may make the wake-up needless, never missing: the checkpointer
    /// checks the frames again before it waits, and its signal keeps a wake-up sent early.
    func committed(frames: Int) {
        self.frames.store(frames, ordering: .relaxed)
        if frames > largestFrames.load(ordering: .relaxed) { largestFrames.store(frames, ordering: .relaxed) }
        let done = copied.load(ordering: .relaxed)
        if frames - (frames < done ? 0 : done) >= checkpointPages {
            wakeups.add(1, ordering: .relaxed)
            signal.signal()
        }
    }

    func close() {
        closed.store(true, ordering: .releasing)
        signal.signal()
    }
}

/// The checkpointer thread's loop (see `WALMonitor`).
struct Checkpointer: Sendable {
    let path: String
    let vfs: String?
    let monitor: WALMonitor
    let retryDelay: Duration

    /// Opens the checkpointer's connection.
    private func open() throws(StoreError) -> Connection {
        let connection = try Connection(path: path, create: false, vfs: vfs)
        do throws(StoreError) {
            try connection.execute(Schema.connectionPragmas)
        } catch {
            connection.close()
            throw error
        }
        return connection
    }

    func run() {
        var connection: Connection?
        var marked = HeadMark.read(database: path) ?? 0
        var markedAt = ContinuousClock.now - .seconds(1)
        // A pass runs once `checkpointPages` frames lie past those already copied into the database
        // file (`monitor.copied`, which only this thread writes and the writer reads to know when to
        // wake it), as SQLite's automatic checkpoint would, so a reader holding old frames causes no
        // busy loop.
        while !monitor.closed.load(ordering: .acquiring) {
            // At most once a second (this loop wakes at least that often), and only forward.
            let committed = monitor.committedHead.load(ordering: .relaxed)
            if committed > marked, markedAt.duration(to: .now) >= .seconds(1) {
                markedAt = .now
                if (try? HeadMark.write(committed, database: path)) != nil {
                    marked = committed
                    monitor.headMarks.add(1, ordering: .relaxed)
                }
            }
            let frames = monitor.frames.load(ordering: .relaxed)
            var copied = monitor.copied.load(ordering: .relaxed)
            if frames < copied {  // the WAL started over
                copied = 0
                monitor.copied.store(0, ordering: .relaxed)
            }
            guard frames - copied >= monitor.checkpointPages else {
                monitor.signal.wait(timeout: .seconds(1))
                continue
            }
            if connection == nil {
                do throws(StoreError) {
                    connection = try open()
                } catch {
                    monitor.checkpointFailures.add(1, ordering: .relaxed)
                    monitor.signal.wait(timeout: retryDelay)
                    continue
                }
            }
            guard let connection else { continue }
            let start = ContinuousClock.now
            let checkpointed: (walFrames: Int, checkpointed: Int)?
            do throws(StoreError) {
                checkpointed = try connection.checkpoint()
            } catch {
                monitor.checkpointFailures.add(1, ordering: .relaxed)
                monitor.signal.wait(timeout: retryDelay)
                continue
            }
            guard let result = checkpointed else {
                // The writer is checkpointing at the WAL's limit: this pass is not needed.
                monitor.signal.wait(timeout: .seconds(1))
                continue
            }
            let elapsed = ContinuousClock.now - start
            monitor.checkpointNanoseconds.add(
                Int(elapsed.components.seconds) * 1_000_000_000 + Int(elapsed.components.attoseconds / 1_000_000_000),
                ordering: .relaxed)
            monitor.checkpoints.add(1, ordering: .relaxed)
            copied = result.checkpointed
            if result.checkpointed >= result.walFrames {
                // All copied: the writer's next transaction starts the WAL over, and its report will
                // say so (unless a commit reported meanwhile).
                if monitor.frames.compareExchange(expected: frames, desired: 0, ordering: .relaxed).exchanged {
                    copied = 0
                }
            }
            monitor.copied.store(copied, ordering: .relaxed)
        }
        connection?.close()
    }
}
