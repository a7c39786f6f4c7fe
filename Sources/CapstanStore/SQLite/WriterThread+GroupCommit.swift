import Synchronization

/// Group commit: one transaction per batch of pending writes, each applied with its check in order.
extension WriterThread {
    /// Uncommitted effects of the batch being applied.
    struct Batch {
        var head: Int64
        var events: [WatchEvent] = []
        var grantedLeases: [Int64: Duration] = [:]
        var revokedLeases: Set<Int64> = []
    }

    enum Applied {
        case now(Result<WriteOutcome, StoreError>)
        /// An explicit compaction: answered when the compaction steps reach it.
        case later
    }

    func runBatch(_ work: [LogWriter.Pending]) {
        if let broken {
            finish(work, failure: broken)
            return
        }
        if unsealed != nil {
            do throws(StoreError) {
                try seal()
            } catch {
                finish(work, failure: .unavailable(reason: "nothing in this batch was written: the store cannot write: \(error.reason)"))
                return
            }
        }
        if work.allSatisfy({ if case .probe = $0.request { true } else { false } }) {
            // Nothing to write: the writer could write (the seal, if one was due, committed), unless
            // the last write found no space and nothing freed any since.
            let answer: Result<WriteOutcome, StoreError> =
                full.map { .failure(.unavailable(reason: "the last write found the store full: \($0.reason)")) }
                ?? .success(.done)
            for pending in work { pending.completion?.resume(returning: answer) }
            return
        }
        var batch = Batch(head: head)
        var results: [Result<WriteOutcome, StoreError>?] = []
        results.reserveCapacity(work.count)
        do throws(StoreError) {
            try prepared(&beginStatement, "BEGIN IMMEDIATE").run()
        } catch {
            finish(work, failure: .unavailable(reason: "nothing in this batch was written: \(error.reason)"))
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
                if error.isFull { full = error }
                fail(work, answered: results, with: .unavailable(reason: "nothing in this batch was written: \(error.reason)"))
                return
            }
        }
        let commitStart = ContinuousClock.now
        do throws(StoreError) {
            try prepared(&commitStatement, "COMMIT").run()
        } catch {
            // The batch's frames may still be in the WAL: seal before answering (see `WriterThread`).
            rollback(after: error)
            if error.isFull { full = error }
            unsealed = error
            let failure: StoreError
            do throws(StoreError) {
                try seal()
                failure = .unavailable(reason: "nothing in this batch was written: the commit failed: \(error.reason)")
            } catch let sealError {
                failure = .unavailable(
                    reason: "the commit failed (\(error.reason)) and could not be sealed (\(sealError.reason)): the write is not "
                        + "applied now, but if the store stops before its next commit it may be on restart")
            }
            fail(work, answered: results, with: failure)
            return
        }
        // Something was written, so it found space (a batch of failed checks writes nothing).
        if batch.head != head { full = nil }
        head = batch.head
        writer.wal?.committedHead.store(head, ordering: .relaxed)
        writer.writeTransactions.add(1, ordering: .relaxed)
        let commitTime = ContinuousClock.now - commitStart
        let commitNanoseconds =
            Int(commitTime.components.seconds) * 1_000_000_000 + Int(commitTime.components.attoseconds / 1_000_000_000)
        writer.commitNanoseconds.add(commitNanoseconds, ordering: .relaxed)
        if commitNanoseconds > writer.slowestCommitNanoseconds.load(ordering: .relaxed) {
            writer.slowestCommitNanoseconds.store(commitNanoseconds, ordering: .relaxed)
        }
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
            if case .probe = pending.request { continue }
            completed += 1
        }
        writer.writesCompleted.add(completed, ordering: .relaxed)
    }

    /// Commits a one-row write of its own, so that a failed commit's frames in the WAL can never be
    /// recovered (see `WriterThread`); clears `unsealed`. Throws if it fails too.
    func seal() throws(StoreError) {
        try connection.run("BEGIN IMMEDIATE")
        do throws(StoreError) {
            try connection.execute(
                "INSERT INTO meta (key, value) VALUES ('failed_commits', 1) ON CONFLICT (key) DO UPDATE SET value = value + 1")
            try connection.run("COMMIT")
        } catch {
            rollback(after: error)
            throw error
        }
        unsealed = nil
        writer.seals.add(1, ordering: .relaxed)
    }

    /// Rolls back the open transaction, if SQLite has not already; if even that fails, stops writing.
    func rollback(after cause: StoreError) {
        guard !connection.isAutocommit else { return }
        do throws(StoreError) {
            try connection.run("ROLLBACK")
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
        case .create(let key, let value, let lease, let unchanged):
            if lease != 0, !leaseExists(lease, batch) { return .now(.failure(.notFound(key: leaseKey(lease)))) }
            // A SELECT, then an INSERT. One `INSERT … SELECT` with the check in its WHERE measured
            // about 7 µs more CPU per create (bench-store): reading the table it inserts into, SQLite
            // first copies the SELECT's row into a temporary table (98 VDBE operations, against 25 + 43).
            let latest = try latestRow(key, withValue: false)
            if let latest, !latest.deleted { return .now(.failure(.alreadyExists(key: key))) }
            if let failure = try check(unchanged) { return .now(.failure(failure)) }
            let revision = batch.head + 1
            let row = LogRow(
                revision: revision, name: key, created: true, deleted: false, createRevision: revision,
                prevRevision: latest?.revision ?? 0, lease: lease, value: value)
            try insert(row)
            batch.head = revision
            batch.events.append(row.event)
            return .now(.success(.revision(revision)))

        case .update(let key, let value, let expected, let unchanged):
            guard let latest = try latestRow(key, withValue: false), !latest.deleted else {
                return .now(.failure(.notFound(key: key)))
            }
            if expected != 0, latest.revision != expected {
                return .now(.failure(.conflict(key: key, currentRevision: latest.revision)))
            }
            if let failure = try check(unchanged) { return .now(.failure(failure)) }
            let revision = batch.head + 1
            let row = LogRow(
                revision: revision, name: key, created: false, deleted: false, createRevision: latest.createRevision,
                prevRevision: latest.revision, lease: latest.lease, value: value)
            try insert(row)
            batch.head = revision
            batch.events.append(row.event)
            return .now(.success(.revision(revision)))

        case .delete(let key, let expected):
            guard let latest = try latestRow(key, withValue: true), !latest.deleted else {
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

        case .probe:
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

    /// The first key of `unchanged` that is not at its revision in the open transaction, as the
    /// write's failure: `notFound` if it is absent, `conflict` if it changed; nil if all are.
    private func check(_ unchanged: [KeyRevision]) throws(StoreError) -> StoreError? {
        for other in unchanged {
            guard let current = try latestRow(other.key, withValue: false), !current.deleted else {
                return .notFound(key: other.key)
            }
            if current.revision != other.modRevision {
                return .conflict(key: other.key, currentRevision: current.revision)
            }
        }
        return nil
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
        let statement = try prepared(&insertStatement, Self.insertSQL)
        try statement.bind(1, row.revision)
        try statement.bind(2, row.name)
        try statement.bind(3, row.created ? 1 : 0)
        try statement.bind(4, row.deleted ? 1 : 0)
        try statement.bind(5, row.createRevision)
        try statement.bind(6, row.prevRevision)
        try statement.bind(7, row.lease)
        try statement.run(bindingValue: row.value, at: 8)
    }

    /// The key's newest row through the writer's own statements (see `Connection.latestRow(_:using:)`).
    private func latestRow(_ key: String, withValue: Bool) throws(StoreError) -> LogRow? {
        let statement =
            withValue
            ? try prepared(&latestWithValueStatement, Connection.latestRowSQL)
            : try prepared(&latestStatement, Connection.latestRowWithoutValueSQL)
        return try connection.latestRow(key, using: statement)
    }

    /// `cached`, or `sql` prepared (through the connection's cache) and kept in `cached`.
    private func prepared(_ cached: inout Statement?, _ sql: String) throws(StoreError) -> Statement {
        if let cached { return cached }
        let statement = try connection.statement(sql)
        cached = statement
        return statement
    }

    private static let insertSQL = """
        INSERT INTO log (id, name, created, deleted, create_revision, prev_revision, lease, value)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
        """
}

extension KeyValue {
    func with(value: [UInt8]) -> KeyValue {
        var copy = self
        copy.value = value
        return copy
    }
}

extension StoreError {
    /// Whether SQLite failed for want of space (SQLITE_FULL; see `Connection.error(code:…)`).
    var isFull: Bool {
        if case .unavailable(let reason) = self { reason.contains(Connection.fullMarker) } else { false }
    }
}
