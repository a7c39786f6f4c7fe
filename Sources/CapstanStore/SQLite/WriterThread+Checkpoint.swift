import Synchronization

/// The writer's part in checkpoints (see `WALMonitor`).
extension WriterThread {
    /// When the WAL has reached its limit, copies what the background checkpointer has not (the
    /// last few commits' frames) between two batches, so the next transaction starts the WAL over.
    /// Tried again every `checkpointPages` frames while a reader keeps the WAL from starting over; a
    /// failure (an I/O error on the database file) changes nothing and is counted.
    func checkpointAtLimit() {
        guard let wal = writer.wal else { return }
        let frames = wal.frames.load(ordering: .relaxed)
        guard frames >= wal.walLimitPages else {
            limitCheckpointFrames = 0
            return
        }
        guard limitCheckpointFrames == 0 || frames >= limitCheckpointFrames + wal.checkpointPages else { return }
        let start = ContinuousClock.now
        do throws(StoreError) {
            // nil: the background checkpointer holds the checkpoint lock; try after the next batch.
            guard try connection.checkpoint() != nil else { return }
        } catch {
            limitCheckpointFrames = frames
            wal.checkpointFailures.add(1, ordering: .relaxed)
            return
        }
        limitCheckpointFrames = frames
        let elapsed = ContinuousClock.now - start
        wal.limitCheckpoints.add(1, ordering: .relaxed)
        wal.limitCheckpointNanoseconds.add(
            Int(elapsed.components.seconds) * 1_000_000_000 + Int(elapsed.components.attoseconds / 1_000_000_000),
            ordering: .relaxed)
    }
}
