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
///   commits go on meanwhile. When everything is copied as the writer begins a transaction, SQLite
///   starts the WAL over from its beginning; under a steady stream of commits that moment rarely
///   comes, so the WAL keeps growing until:
/// - RESTART, when the WAL has reached `walLimitPages`, right after a PASSIVE pass has copied the
///   bulk: it holds the writer off while it copies the few frames committed since (and syncs the
///   database file), waits (at most the busy timeout) for readers to leave the WAL, and the next
///   transaction starts the WAL over. Writers wait about one commit's time for it, once per
///   `walLimitPages`, instead of a whole checkpoint every 1000 pages; the WAL file stays at most
///   about `walLimitPages` long (it is reused, not truncated, so commits do not grow the file).
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
    let signal = ThreadSignal()
    /// WAL frames after the last commit.
    let frames = Atomic<Int>(0)
    let largestFrames = Atomic<Int>(0)
    let closed = Atomic<Bool>(false)

    let checkpoints = Atomic<Int>(0)
    let restarts = Atomic<Int>(0)
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
struct Checkpointer: Sendable {
    let path: String
    let vfs: String?
    let monitor: WALMonitor
    let walLimitPages: Int
    let retryDelay: Duration

    /// Opens the checkpointer's connection; a restart holds writers off while it waits for
    /// readers, so it waits at most a second.
    private func open() throws(StoreError) -> Connection {
        let connection = try Connection(path: path, create: false, vfs: vfs)
        do throws(StoreError) {
            try connection.execute(Schema.connectionPragmas + "PRAGMA busy_timeout = 1000;")
        } catch {
            connection.close()
            throw error
        }
        return connection
    }

    func run() {
        var connection: Connection?
        // Frames of the current WAL already copied into the database file: a pass runs once
        // `checkpointPages` more have been committed (as SQLite's automatic checkpoint would), so a
        // reader holding old frames causes no busy loop, or when the WAL reaches its limit.
        var copied = 0
        while !monitor.closed.load(ordering: .acquiring) {
            let frames = monitor.frames.load(ordering: .relaxed)
            if frames < copied { copied = 0 }  // the WAL started over
            guard frames - copied >= monitor.checkpointPages || frames >= walLimitPages else {
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
            var result: (walFrames: Int, checkpointed: Int)
            do throws(StoreError) {
                result = try connection.checkpoint(.passive)
                if frames >= walLimitPages {
                    result = try connection.checkpoint(.restart)
                    monitor.restarts.add(1, ordering: .relaxed)
                }
            } catch {
                monitor.checkpointFailures.add(1, ordering: .relaxed)
                monitor.signal.wait(timeout: retryDelay)
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
            } else if frames >= walLimitPages {
                // Readers kept the restart from finishing: try again shortly.
                monitor.signal.wait(timeout: .milliseconds(20))
            }
        }
        connection?.close()
    }
}
