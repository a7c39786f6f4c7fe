import Synchronization

/// Compaction in small steps, toward an explicit `compact` or the retention window.
extension WriterThread {
    /// Keeps one sample per second of commits: the newest (head, time) of each second, so a sample
    /// never claims a revision was written earlier than it was.
    func recordSample(now: ContinuousClock.Instant) {
        if samples.isEmpty || now - sampleBucketStart >= .seconds(1) {
            samples.append((head, now))
            sampleBucketStart = now
        } else {
            samples[samples.count - 1] = (head, now)
        }
    }

    /// The newest revision the retention window allows to compact: at least `revisions` revisions
    /// and `duration` of history stay.
    private func retentionTarget(now: ContinuousClock.Instant) -> Int64 {
        guard let retention = options.retention else { return compacted }
        // The newest sample at least `duration` old bounds what may go; older samples are dropped.
        guard let index = samples.lastIndex(where: { now - $0.time >= retention.duration }) else { return compacted }
        let bound = samples[index].revision
        samples.removeFirst(index)
        return max(compacted, min(head - retention.revisions, bound))
    }

    /// Whether a compaction step should run now: an explicit `compact` is pending, or (at most once a
    /// second, or as soon as a full step's worth is due) the retention window allows one.
    func compactionDue(now: ContinuousClock.Instant) -> Bool {
        if broken != nil { return false }
        if requestedCompaction > compacted {
            compactionTarget = requestedCompaction
            return true
        }
        if now < retryCompactionAfter { return false }
        guard now - lastCompactionStep >= .seconds(1) || compactionTarget - compacted >= Int64(options.compactionStep)
        else { return false }
        compactionTarget = retentionTarget(now: now)
        if compactionTarget <= compacted { lastCompactionStep = now }
        return compactionTarget > compacted
    }

    /// Compacts up to `compactionStep` revisions past `compacted` toward `compactionTarget`, in one
    /// transaction: each row in range removes the row it superseded, and tombstones remove
    /// themselves; `meta.compact_revision` moves in the same transaction.
    func compactionStep() {
        let from = compacted
        let through = min(compactionTarget, from + Int64(options.compactionStep))
        lastCompactionStep = .now
        var removed = 0
        var committing = false
        do throws(StoreError) {
            if unsealed != nil { try seal() }
            try connection.run("BEGIN IMMEDIATE")
            do throws(StoreError) {
                let select = try connection.statement(
                    "SELECT id, prev_revision, deleted FROM log WHERE id > ?1 AND id <= ?2 ORDER BY id")
                try select.bind(1, from)
                try select.bind(2, through)
                var doomed: [Int64] = []
                while try select.step() {
                    if select.int64(1) != 0 { doomed.append(select.int64(1)) }
                    if select.int64(2) != 0 { doomed.append(select.int64(0)) }
                }
                select.reset()
                let delete = try connection.statement("DELETE FROM log WHERE id = ?1")
                let before = connection.totalChanges
                for id in doomed {
                    try delete.bind(1, id)
                    try delete.run()
                }
                removed = Int(connection.totalChanges - before)
                let update = try connection.statement("UPDATE meta SET value = ?1 WHERE key = 'compact_revision'")
                try update.bind(1, through)
                try update.run()
            } catch {
                try? connection.run("ROLLBACK")
                throw error
            }
            committing = true
            try connection.run("COMMIT")
        } catch {
            rollback(after: error)
            if committing {
                unsealed = error
                try? seal()
            }
            // Background compaction waits a second (no hot loop on a failing disk); an explicit
            // `compact` fails its callers and is not retried.
            retryCompactionAfter = .now + .seconds(1)
            requestedCompaction = compacted
            let waiters = compactionWaiters
            compactionWaiters = []
            for waiter in waiters { waiter.completion.resume(returning: .failure(error)) }
            return
        }
        compacted = through
        // The rows it removed freed pages: the next write may fit again.
        if removed > 0 { full = nil }
        writer.compactedRevision.store(through, ordering: .releasing)
        writer.compactionSteps.add(1, ordering: .relaxed)
        writer.compactedRows.add(removed, ordering: .relaxed)
        let ready = compactionWaiters.filter { $0.revision <= through }
        compactionWaiters.removeAll { $0.revision <= through }
        for waiter in ready { waiter.completion.resume(returning: .success(.done)) }
    }
}
