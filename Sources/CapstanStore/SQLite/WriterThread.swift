import Synchronization

/// The writer thread's state and loop. Everything here runs on that one thread and owns the only
/// write connection; other threads reach it through `LogWriter`'s queue.
///
/// Group commit: each pass takes every pending write (up to the batch limits), applies each in order
/// with its check inside one `BEGIN IMMEDIATE … COMMIT`, then publishes the batch's events to the
/// hub and resumes the callers. Checks see the writes before them in the batch. A check that fails
/// (conflict, already exists …) fails only its write; an SQLite error rolls the whole batch back and
/// fails all of it, and a failed COMMIT stops the writer (the outcome on disk is then unknown, so it
/// accepts nothing more until the store is reopened).
final class WriterThread {
    struct Recovered {
        var head: Int64
        var compacted: Int64
        var leases: [(Int64, Duration)]
    }

    private let writer: LogWriter
    private let connection: Connection
    private let options: SQLiteStoreOptions
    /// Newest committed revision.
    private var head: Int64
    private var compacted: Int64
    /// Highest revision an explicit `compact` asked for, and the callers waiting for it.
    private var requestedCompaction: Int64
    private var compactionWaiters: [(revision: Int64, completion: WriteCompletion)] = []
    private var lastCompactionStep = ContinuousClock.now
    /// (revision, time) samples, at most one a second, for the time part of the retention window:
    /// history present when the store opened counts as written then.
    private var samples: [(revision: Int64, time: ContinuousClock.Instant)]
    private var sampleBucketStart = ContinuousClock.now
    /// Set when a COMMIT failed: the writer then refuses every write.
    private var broken: StoreError?
    /// After a failed batch, expired leases are retried no sooner than this (no hot loop on a full disk).
    private var retryExpiryAfter = ContinuousClock.now

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
    static func openDatabase(path: String, directory: String) throws(StoreError) -> (Connection, Recovered) {
        let connection = try Connection(path: path, create: true)
        do throws(StoreError) {
            try connection.execute(Schema.connectionPragmas)
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
                try connection.execute(Schema.create + "PRAGMA user_version = \(Schema.version);")
                try connection.execute("COMMIT")
            } catch {
                try? connection.execute("ROLLBACK")
                throw error
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
            return (connection, recovered)
        } catch {
            connection.close()
            throw error
        }
    }

    // MARK: Loop

    func run() {
        // Each pass commits one batch, runs one compaction step, or parks until woken, the next lease
        // deadline or a one-second housekeeping tick. It ends once closed and drained.
        while true {
            let (batch, closed) = writer.take()
            var work = batch
            let now = ContinuousClock.now
            for lease in now >= retryExpiryAfter ? writer.leases.expired(now: now) : [] {
                work.append(LogWriter.Pending(request: .revokeLease(lease, ifExpired: true), completion: nil))
            }
            if !work.isEmpty {
                runBatch(work)
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
        connection.close()
    }

    // MARK: Group commit

    /// Uncommitted effects of the batch being applied.
    private struct Batch {
        var head: Int64
        var events: [WatchEvent] = []
        var grantedLeases: [Int64: Duration] = [:]
        var revokedLeases: Set<Int64> = []
    }

    private enum Applied {
        case now(Result<WriteOutcome, StoreError>)
        /// An explicit compaction: answered when the compaction steps reach it.
        case later
    }

    private func runBatch(_ work: [LogWriter.Pending]) {
        if let broken {
            finish(work, failure: broken)
            return
        }
        var batch = Batch(head: head)
        var results: [Result<WriteOutcome, StoreError>?] = []
        results.reserveCapacity(work.count)
        do throws(StoreError) {
            try connection.execute("BEGIN IMMEDIATE")
        } catch {
            finish(work, failure: error)
            return
        }
        for pending in work {
            do throws(StoreError) {
                switch try apply(pending.request, to: &batch) {
                case .now(let result): results.append(result)
                case .later:
                    if let completion = pending.completion {
                        compactionWaiters.append((requestedCompaction, completion))
                    }
                    results.append(nil)
                }
            } catch {
                rollback(after: error)
                fail(work, answered: results, with: .unavailable(reason: "nothing in this batch was written: \(error)"))
                return
            }
        }
        do throws(StoreError) {
            try connection.execute("COMMIT")
        } catch {
            // The outcome on disk is unknown (a failed fsync may still leave the frames in the WAL):
            // accept nothing more until the store is reopened and recovers.
            rollback(after: error)
            broken = .unavailable(reason: "a commit failed (\(error)); reopen the store")
            fail(work, answered: results, with: .unavailable(reason: "the write may not have been applied: \(error)"))
            return
        }
        head = batch.head
        writer.writeTransactions.add(1, ordering: .relaxed)
        let now = ContinuousClock.now
        for (id, ttl) in batch.grantedLeases where !batch.revokedLeases.contains(id) {
            writer.leases.add(id, ttl: ttl, now: now)
        }
        for id in batch.revokedLeases { writer.leases.remove(id) }
        recordSample(now: now)
        writer.hub.publish(batch.events, through: head)
        var completed = 0
        for (pending, result) in zip(work, results) {
            guard let result, let completion = pending.completion else { continue }
            completion.resume(returning: result)
            completed += 1
        }
        writer.writesCompleted.add(completed, ordering: .relaxed)
    }

    /// Rolls back the open transaction, if SQLite has not already; if even that fails, stops writing.
    private func rollback(after cause: StoreError) {
        guard !connection.isAutocommit else { return }
        do throws(StoreError) {
            try connection.execute("ROLLBACK")
        } catch {
            broken = .unavailable(reason: "a rollback failed (\(error)) after \(cause); reopen the store")
        }
    }

    /// Fails every write of an aborted batch except deferred compactions (they wait for compaction).
    private func fail(
        _ work: [LogWriter.Pending], answered results: [Result<WriteOutcome, StoreError>?], with failure: StoreError
    ) {
        retryExpiryAfter = .now + .seconds(1)
        for (index, pending) in work.enumerated() where index >= results.count || results[index] != nil {
            pending.completion?.resume(returning: .failure(failure))
        }
    }

    private func finish(_ work: [LogWriter.Pending], failure: StoreError) {
        retryExpiryAfter = .now + .seconds(1)
        for pending in work {
            pending.completion?.resume(returning: .failure(failure))
        }
    }

    /// Applies one write inside the open transaction. Returns its outcome (a failed check is an
    /// outcome); throws only for SQLite errors, which abort the batch.
    private func apply(_ request: WriteRequest, to batch: inout Batch) throws(StoreError) -> Applied {
        switch request {
        case .create(let key, let value, let lease):
            if lease != 0, !leaseExists(lease, batch) { return .now(.failure(.notFound(key: leaseKey(lease)))) }
            let latest = try connection.latestRow(key, withValue: false)
            if let latest, !latest.deleted { return .now(.failure(.alreadyExists(key: key))) }
            let revision = batch.head + 1
            let row = LogRow(
                revision: revision, name: key, created: true, deleted: false, createRevision: revision,
                prevRevision: latest?.revision ?? 0, lease: lease, value: value)
            try insert(row)
            batch.head = revision
            batch.events.append(row.event)
            return .now(.success(.revision(revision)))

        case .update(let key, let value, let expected):
            guard let latest = try connection.latestRow(key, withValue: false), !latest.deleted else {
                return .now(.failure(.notFound(key: key)))
            }
            if expected != 0, latest.revision != expected {
                return .now(.failure(.conflict(key: key, currentRevision: latest.revision)))
            }
            let revision = batch.head + 1
            let row = LogRow(
                revision: revision, name: key, created: false, deleted: false, createRevision: latest.createRevision,
                prevRevision: latest.revision, lease: latest.lease, value: value)
            try insert(row)
            batch.head = revision
            batch.events.append(row.event)
            return .now(.success(.revision(revision)))

        case .delete(let key, let expected):
            guard let latest = try connection.latestRow(key), !latest.deleted else {
                return .now(.failure(.notFound(key: key)))
            }
            if expected != 0, latest.revision != expected {
                return .now(.failure(.conflict(key: key, currentRevision: latest.revision)))
            }
            let row = try deleteRow(latest, batch: &batch)
            return .now(.success(.deleted(row.keyValue.with(value: latest.value))))

        case .grantLease(let ttl):
            var id: Int64 = 0
            // Random 63-bit ids: a collision is astronomically unlikely; the bound only makes it finite.
            for _ in 0..<64 {
                let candidate = Int64.random(in: 1...Int64.max)
                if !leaseExists(candidate, batch) {
                    id = candidate
                    break
                }
            }
            if id == 0 { return .now(.failure(.unavailable(reason: "could not choose a lease id"))) }
            let milliseconds = max(1, ttl.components.seconds * 1000 + ttl.components.attoseconds / 1_000_000_000_000_000)
            let statement = try connection.statement("INSERT INTO leases (id, ttl_ms) VALUES (?1, ?2)")
            try statement.bind(1, id)
            try statement.bind(2, milliseconds)
            try statement.run()
            batch.grantedLeases[id] = .milliseconds(milliseconds)
            return .now(.success(.lease(id)))

        case .revokeLease(let id, let ifExpired):
            guard leaseExists(id, batch) else { return .now(.failure(.notFound(key: leaseKey(id)))) }
            if ifExpired, batch.grantedLeases[id] == nil, !writer.leases.isExpired(id, now: .now) {
                return .now(.success(.done))
            }
            for row in try connection.rowsAttached(toLease: id) {
                _ = try deleteRow(row, batch: &batch)
            }
            let statement = try connection.statement("DELETE FROM leases WHERE id = ?1")
            try statement.bind(1, id)
            try statement.run()
            batch.revokedLeases.insert(id)
            return .now(.success(.done))

        case .compact(let revision):
            if revision < compacted {
                return .now(.failure(.compacted(requested: revision, compactedRevision: compacted)))
            }
            if revision > head {
                return .now(
                    .failure(.invalid(reason: "cannot compact to revision \(revision): the current revision is \(head)")))
            }
            if revision == compacted { return .now(.success(.done)) }
            requestedCompaction = max(requestedCompaction, revision)
            return .later
        }
    }

    private func leaseExists(_ id: Int64, _ batch: Batch) -> Bool {
        !batch.revokedLeases.contains(id) && (batch.grantedLeases[id] != nil || writer.leases.contains(id))
    }

    /// Appends a tombstone for `latest` (keeping its value for the delete event).
    private func deleteRow(_ latest: LogRow, batch: inout Batch) throws(StoreError) -> LogRow {
        let revision = batch.head + 1
        let row = LogRow(
            revision: revision, name: latest.name, created: false, deleted: true, createRevision: latest.createRevision,
            prevRevision: latest.revision, lease: latest.lease, value: latest.value)
        try insert(row)
        batch.head = revision
        batch.events.append(row.event)
        return row
    }

    private func insert(_ row: LogRow) throws(StoreError) {
        let statement = try connection.statement(
            """
            INSERT INTO log (id, name, created, deleted, create_revision, prev_revision, lease, value)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
            """)
        try statement.bind(1, row.revision)
        try statement.bind(2, row.name)
        try statement.bind(3, row.created ? 1 : 0)
        try statement.bind(4, row.deleted ? 1 : 0)
        try statement.bind(5, row.createRevision)
        try statement.bind(6, row.prevRevision)
        try statement.bind(7, row.lease)
        try statement.bind(8, row.value)
        try statement.run()
    }

    // MARK: Compaction

    /// Keeps one sample per second of commits: the newest (head, time) of each second, so a sample
    /// never claims a revision was written earlier than it was.
    private func recordSample(now: ContinuousClock.Instant) {
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

    private var compactionTarget: Int64 = 0

    private func compactionDue(now: ContinuousClock.Instant) -> Bool {
        if broken != nil { return false }
        if requestedCompaction > compacted {
            compactionTarget = requestedCompaction
            return true
        }
        guard now - lastCompactionStep >= .seconds(1) || compactionTarget - compacted >= Int64(options.compactionStep)
        else { return false }
        compactionTarget = retentionTarget(now: now)
        if compactionTarget <= compacted { lastCompactionStep = now }
        return compactionTarget > compacted
    }

    /// Compacts up to `compactionStep` revisions past `compacted` toward `compactionTarget`, in one
    /// transaction: each row in range removes the row it superseded, and tombstones remove
    /// themselves; `meta.compact_revision` moves in the same transaction.
    private func compactionStep() {
        let from = compacted
        let through = min(compactionTarget, from + Int64(options.compactionStep))
        lastCompactionStep = .now
        var removed = 0
        var committing = false
        do throws(StoreError) {
            try connection.execute("BEGIN IMMEDIATE")
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
                try? connection.execute("ROLLBACK")
                throw error
            }
            committing = true
            try connection.execute("COMMIT")
        } catch {
            rollback(after: error)
            if committing { broken = .unavailable(reason: "a compaction commit failed (\(error)); reopen the store") }
            requestedCompaction = compacted
            let waiters = compactionWaiters
            compactionWaiters = []
            for waiter in waiters { waiter.completion.resume(returning: .failure(error)) }
            return
        }
        compacted = through
        writer.compactedRevision.store(through, ordering: .releasing)
        writer.compactionSteps.add(1, ordering: .relaxed)
        writer.compactedRows.add(removed, ordering: .relaxed)
        let ready = compactionWaiters.filter { $0.revision <= through }
        compactionWaiters.removeAll { $0.revision <= through }
        for waiter in ready { waiter.completion.resume(returning: .success(.done)) }
    }
}

extension KeyValue {
    func with(value: [UInt8]) -> KeyValue {
        var copy = self
        copy.value = value
        return copy
    }
}
