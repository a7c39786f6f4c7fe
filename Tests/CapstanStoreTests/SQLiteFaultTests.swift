@testable import CapstanStore
import CapstanTestSupport
import Foundation
import Testing

/// How `SQLiteStore` fails and recovers when SQLite fails a write: a full disk or database, an I/O
/// error on write or fsync, a failed COMMIT (through `FaultVFS`, beneath SQLite), and databases it
/// cannot read. In every case each writer of the failed batch gets an error, watchers see nothing
/// of it, its revisions are used again by the next batch, the store takes writes once the fault is
/// gone, and the data on disk — after a restart, and in a copy taken as a crash would leave it —
/// holds exactly the acknowledged writes.
@Suite("SQLiteStore faults")
struct SQLiteFaultTests {
    /// A fault at COMMIT: which operation fails on the WAL, after how many pass, with which code,
    /// and the writer's WAL write buffer (0: off, SQLite writes each frame itself).
    struct CommitFault: Sendable, CustomTestStringConvertible {
        var operation: FaultVFS.Operations
        var skip: Int
        var code: Int32
        var walBuffer: Int
        var testDescription: String {
            "\(operation == .sync ? "fsync" : "write") fails after \(skip) with code \(code), WAL write buffer "
                + (walBuffer == 0 ? "off" : "\(walBuffer) bytes")
        }
    }

    static let commitFaults = [
        // fsync of the WAL after every frame, commit frame included, was written.
        CommitFault(operation: .sync, skip: 0, code: SQLiteCode.ioerrFsync, walBuffer: 0),
        CommitFault(operation: .sync, skip: 0, code: SQLiteCode.ioerrFsync, walBuffer: SQLiteStoreOptions().walWriteBufferBytes),
        // Without the buffer, a frame's write, as SQLite makes it: the first, a later one (some
        // frames written).
        CommitFault(operation: .write, skip: 0, code: SQLiteCode.ioerrWrite, walBuffer: 0),
        CommitFault(operation: .write, skip: 3, code: SQLiteCode.ioerrWrite, walBuffer: 0),
        // With the buffer (the default): the write of the whole buffered commit at its fsync; with
        // a buffer of about one frame, so the commit takes several writes, the first, a later one,
        // and a disk that fills up mid-commit.
        CommitFault(operation: .write, skip: 0, code: SQLiteCode.ioerrWrite, walBuffer: SQLiteStoreOptions().walWriteBufferBytes),
        CommitFault(operation: .write, skip: 0, code: SQLiteCode.ioerrWrite, walBuffer: 8192),
        CommitFault(operation: .write, skip: 3, code: SQLiteCode.ioerrWrite, walBuffer: 8192),
        CommitFault(operation: .write, skip: 2, code: SQLiteCode.full, walBuffer: 8192),
    ]

    @Test(arguments: commitFaults) func failedCommitFailsTheWholeBatchAndTheStoreGoesOn(fault: CommitFault) async throws {
        let vfs = try FaultVFS()
        defer { vfs.unregister() }
        try await withTemporaryDirectory { directory in
            let data = directory + "/data"
            var options = Self.options(vfs: vfs)
            options.walWriteBufferBytes = fault.walBuffer
            let store = try await SQLiteStore.open(directory: data, options: options)
            let stream = try await store.watch(prefix: "/", fromRevision: 0)
            var model = StoreModel()
            for index in 0..<5 {
                let key = "/before/\(index)"
                model.put(key, bytes("v\(index)"), revision: try await store.create(key, value: bytes("v\(index)")))
            }
            let head = try await store.currentRevision()
            let syncsBefore = vfs.passed(.sync, on: .wal)

            // One batch of 20 creates whose COMMIT fails.
            vfs.arm(fault.operation, on: .wal, skip: fault.skip, count: 1, code: fault.code)
            let results = try await Self.batch(store, (0..<20).map { ("/lost/\($0)", Self.lostValue($0)) })
            vfs.disarm()
            #expect(vfs.failures == 1, "the fault did not fire")
            #expect(fault.operation != .sync || vfs.passed(.sync, on: .wal) > syncsBefore, "no fsync passed after the fault (no seal)")
            for result in results {
                guard case .failure(.unavailable(let reason)) = result else {
                    Issue.record("a write of the failed batch got \(result)")
                    continue
                }
                #expect(reason.contains("nothing in this batch was written"), "\(reason)")
                #expect(reason.contains(fault.code == SQLiteCode.full ? "full" : "I/O error"), "\(reason)")
            }
            #expect(try await store.currentRevision() == head)
            #expect(store.statistics.seals == 1)
            await #expect(throws: StoreError.notFound(key: "/lost/0")) { try await store.get("/lost/0") }

            // What a crash right now would leave: exactly the acknowledged writes, whatever of the
            // failed batch's frames reached the WAL.
            if fault.operation == .sync {
                let wal = try Data(contentsOf: URL(fileURLWithPath: SQLiteStore.databasePath(directory: data) + "-wal"))
                #expect(wal.range(of: Data("lost-value-".utf8)) != nil, "the failed commit left no frames to recover")
            }
            try await Self.expectCrashCopy(of: data, in: directory, holds: model)

            // The store goes on: the failed batch's revisions are used again, and watchers see only
            // acknowledged writes, without gaps.
            for index in 0..<20 {
                let key = "/after/\(index)"
                let revision = try await store.create(key, value: bytes("a\(index)"))
                #expect(revision == head + 1 + Int64(index))
                model.put(key, bytes("a\(index)"), revision: revision)
            }
            #expect(try await collect(stream, count: model.events.count) == model.events)
            await store.close()

            try await Self.expectReopened(data, vfs: vfs, holds: model)
        }
    }

    @Test func persistentFaultFailsEveryBatchUntilItClears() async throws {
        let vfs = try FaultVFS()
        defer { vfs.unregister() }
        try await withTemporaryDirectory { directory in
            let data = directory + "/data"
            let store = try await SQLiteStore.open(directory: data, options: Self.options(vfs: vfs))
            let stream = try await store.watch(prefix: "/", fromRevision: 0)
            var model = StoreModel()
            model.put("/before", [], revision: try await store.create("/before", value: []))
            let head = try await store.currentRevision()

            // Every fsync of the WAL fails: the commit, then the seal.
            vfs.arm(.sync, on: .wal, count: nil, code: SQLiteCode.ioerrFsync)
            let first = try await Self.batch(store, (0..<10).map { ("/lost/\($0)", Self.lostValue($0)) })
            for result in first {
                guard case .failure(.unavailable(let reason)) = result else {
                    Issue.record("a write of the failed batch got \(result)")
                    continue
                }
                #expect(reason.contains("could not be sealed"), "\(reason)")
            }
            // A crash now may or may not recover the unsealed batch, but only whole.
            let copy = try await Self.crashCopy(of: data, in: directory)
            let recovered = try await copy.list(prefix: "/lost/").items.count
            #expect(recovered == 0 || recovered == 10, "a crash recovered \(recovered) of the batch's 10 writes")
            await copy.close()

            // While the fault lasts, later batches fail at once, unwritten.
            for attempt in 0..<3 {
                let error = await storeError { _ = try await store.create("/refused/\(attempt)", value: []) }
                guard case .unavailable(let reason)? = error else {
                    Issue.record("a write during the fault got \(String(describing: error))")
                    continue
                }
                #expect(reason.contains("nothing in this batch was written: the store cannot write"), "\(reason)")
            }
            #expect(try await store.currentRevision() == head)
            #expect(store.statistics.seals == 0)

            vfs.disarm()
            let revision = try await store.create("/after", value: bytes("ok"))
            #expect(revision == head + 1)
            model.put("/after", bytes("ok"), revision: revision)
            #expect(store.statistics.seals == 1)
            #expect(try await collect(stream, count: model.events.count) == model.events)
            await store.close()

            try await Self.expectReopened(data, vfs: vfs, holds: model)
        }
    }

    /// `checkWritable` (the API server's health probe) follows the writer: it passes and writes
    /// nothing while writes can commit, fails while a failed commit cannot be sealed, and once the
    /// fault is gone its own pass seals, so the store recovers without waiting for a write.
    @Test func checkWritableFollowsTheWriter() async throws {
        let vfs = try FaultVFS()
        defer { vfs.unregister() }
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(directory: directory + "/data", options: Self.options(vfs: vfs))
            _ = try await store.create("/before", value: [])
            let head = try await store.currentRevision()
            let before = store.statistics
            try await store.checkWritable()
            #expect(try await store.currentRevision() == head)
            #expect(store.statistics.writeTransactions == before.writeTransactions)
            #expect(store.statistics.writesCompleted == before.writesCompleted)

            vfs.arm(.sync, on: .wal, count: nil, code: SQLiteCode.ioerrFsync)
            let failed = await storeError { _ = try await store.create("/lost", value: Self.lostValue(0)) }
            guard case .unavailable? = failed else {
                Issue.record("a write during the fault got \(String(describing: failed))")
                return
            }
            let probe = await storeError { try await store.checkWritable() }
            guard case .unavailable(let reason)? = probe else {
                Issue.record("checkWritable during the fault got \(String(describing: probe))")
                return
            }
            #expect(reason.contains("the store cannot write"), "\(reason)")
            #expect(store.statistics.seals == 0)

            vfs.disarm()
            try await store.checkWritable()
            #expect(store.statistics.seals == 1)
            #expect(try await store.currentRevision() == head)
            #expect(try await store.create("/after", value: []) == head + 1)
            #expect(try await store.list(prefix: "/").items.map(\.key) == ["/after", "/before"])
            await store.close()
            let closed = await storeError { try await store.checkWritable() }
            guard case .unavailable? = closed else {
                Issue.record("checkWritable on a closed store got \(String(describing: closed))")
                return
            }
        }
    }

    /// `PRAGMA max_page_count` (the store's `maxDatabaseBytes`) makes SQLite itself fail an insert
    /// with SQLITE_FULL in the middle of a batch, and `checkWritable` fails until space is freed;
    /// compaction frees pages, and writes go on.
    @Test func fullDatabaseFailsTheBatchUntilCompactionFreesSpace() async throws {
        try await withTemporaryDirectory { directory in
            var options = Self.options(vfs: nil)
            options.maxDatabaseBytes = 256 << 10
            let store = try await SQLiteStore.open(directory: directory, options: options)
            // Consumed as it goes, so the watcher is live (compaction below would end one still reading history).
            let stream = try await store.watch(prefix: "/", fromRevision: 0)
            async let watched = collect(stream, until: "/end")
            var model = StoreModel()
            let value = [UInt8](repeating: 0x42, count: 2000)
            var revision = try await store.create("/hot", value: value)
            model.put("/hot", value, revision: revision)
            // Fill the database with superseded versions of one key (bounded: 256 KiB holds far fewer).
            var full: String?
            for _ in 0..<1000 {
                do throws(StoreError) {
                    revision = try await store.update("/hot", value: value, expectedRevision: revision)
                    model.put("/hot", value, revision: revision)
                } catch {
                    guard case .unavailable(let reason) = error else { throw error }
                    full = reason
                    break
                }
            }
            let reason = try #require(full, "the database never filled up")
            #expect(reason.contains("is full"), "\(reason)")
            #expect(try await store.currentRevision() == revision)

            // A batch of creates that cannot fit: each fails, none is seen.
            let batch = (0..<8).map { ("/new/\($0)", value) }
            for result in try await Self.batch(store, batch) {
                guard case .failure(.unavailable(let reason)) = result else {
                    Issue.record("a write of the failed batch got \(result)")
                    continue
                }
                #expect(reason.contains("nothing in this batch was written") && reason.contains("is full"), "\(reason)")
            }
            #expect(try await store.currentRevision() == revision)
            // The health probe says so too, and keeps saying so: probes write nothing.
            for _ in 0..<2 {
                let probe = await storeError { try await store.checkWritable() }
                guard case .unavailable(let reason)? = probe else {
                    Issue.record("checkWritable on a full store got \(String(describing: probe))")
                    break
                }
                #expect(
                    reason.contains("the last write found the store full") && reason.contains("is full"), "\(reason)")
            }

            // Compaction removes the superseded rows (the probe passes again); their pages take the
            // same batch.
            try await store.compact(revision)
            try await store.checkWritable()
            let written = try await Self.batch(store, batch).enumerated().map { ($0.offset, try $0.element.get()) }
                .sorted { $0.1 < $1.1 }
            #expect(written.map(\.1) == Array(revision + 1...revision + Int64(batch.count)))
            for (index, revision) in written { model.put(batch[index].0, value, revision: revision) }
            model.put("/end", [], revision: try await store.create("/end", value: []))
            #expect(try await watched == model.events)
            #expect(try await store.list(prefix: "/").items == model.state(at: .max, prefix: "/"))
            await store.close()

            let reopened = try await SQLiteStore.open(directory: directory, options: options)
            #expect(try await reopened.list(prefix: "/").items == model.state(at: .max, prefix: "/"))
            #expect(try await reopened.currentRevision() == revision + Int64(batch.count) + 1)
            await reopened.close()
        }
    }

    /// A compaction whose COMMIT fails is retried later; nothing is lost and writes go on.
    @Test func failedCompactionCommitIsSealedAndRetried() async throws {
        let vfs = try FaultVFS()
        defer { vfs.unregister() }
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(directory: directory, options: Self.options(vfs: vfs))
            var revision = try await store.create("/k", value: bytes("0"))
            for step in 1...20 { revision = try await store.update("/k", value: bytes("\(step)"), expectedRevision: revision) }
            vfs.arm(.sync, on: .wal, count: 1, code: SQLiteCode.ioerrFsync)
            let error = await storeError { try await store.compact(revision - 5) }
            vfs.disarm()
            #expect(vfs.failures == 1)
            guard case .unavailable(let reason)? = error else {
                Issue.record("the failed compaction got \(String(describing: error))")
                await store.close()
                return
            }
            #expect(reason.contains("I/O error"), "\(reason)")
            #expect(store.statistics.seals == 1)
            // Nothing was compacted; the retry compacts.
            _ = try await collect(try await store.watch(prefix: "/", fromRevision: revision - 10), count: 10)
            try await store.compact(revision - 5)
            #expect(await storeError { _ = try await store.watch(prefix: "/", fromRevision: revision - 10) }?.isCompacted == true)
            #expect(try await store.update("/k", value: bytes("last"), expectedRevision: revision) == revision + 1)
            await store.close()
        }
    }

    /// Checkpoints copy the WAL into the database file after commits; when they fail, the WAL keeps
    /// the data, so the commits still succeed and nothing is lost, and the checkpoint is retried:
    /// with SQLite's automatic checkpoints (inside commits) and with the background checkpointer.
    @Test(arguments: [false, true]) func failedCheckpointsLoseNothing(background: Bool) async throws {
        let vfs = try FaultVFS()
        defer { vfs.unregister() }
        try await withTemporaryDirectory { directory in
            let data = directory + "/data"
            var options = Self.options(vfs: vfs)
            if background {
                options.checkpointPages = 200
                options.checkpointRetryDelay = .milliseconds(50)
            } else {
                options.checkpointPages = nil
            }
            let store = try await SQLiteStore.open(directory: data, options: options)
            vfs.arm([.write, .sync], on: .database, count: nil, code: SQLiteCode.ioerrWrite)
            var model = StoreModel()
            // Enough 1 KiB writes for a checkpoint (at 1000 or 200 WAL pages) to run, with one index
            // by name (2,000 writes were not, at 1000).
            for round in 0..<80 {
                let results = try await Self.batch(store, (0..<40).map { ("/k/\(round)/\($0)", Self.lostValue($0)) })
                let written = try results.enumerated().map { ($0.offset, try $0.element.get()) }.sorted { $0.1 < $1.1 }
                for (index, revision) in written { model.put("/k/\(round)/\(index)", Self.lostValue(index), revision: revision) }
            }
            if background {
                // Bounded wait for the checkpointer to fail a few times (it retries every 50 ms).
                for _ in 0..<2000 where store.statistics.checkpointFailures < 3 {
                    try await Task.sleep(for: .milliseconds(10))
                }
                #expect(store.statistics.checkpointFailures >= 3, "the failed checkpoint was not retried")
                #expect(store.statistics.checkpoints == 0)
            }
            #expect(vfs.failures > 0, "no checkpoint ran")
            try await Self.expectCrashCopy(of: data, in: directory, holds: model)
            vfs.disarm()
            if background {
                // Once the fault clears, a retry copies the WAL into the database file.
                let written = vfs.passed(.write, on: .database)
                for _ in 0..<2000 where store.statistics.checkpoints == 0 {
                    try await Task.sleep(for: .milliseconds(10))
                }
                #expect(store.statistics.checkpoints > 0, "no checkpoint succeeded after the fault cleared")
                #expect(vfs.passed(.write, on: .database) > written)
                try await Self.expectCrashCopy(of: data, in: directory, holds: model)
            }
            await store.close()
            try await Self.expectReopened(data, vfs: vfs, holds: model)
        }
    }

    // MARK: Unreadable databases

    @Test func directoryInPlaceOfTheDatabaseIsAClearError() async throws {
        try await withTemporaryDirectory { directory in
            try FileManager.default.createDirectory(
                atPath: SQLiteStore.databasePath(directory: directory), withIntermediateDirectories: false)
            let error = await storeError { _ = try await SQLiteStore.open(directory: directory, options: Self.options(vfs: nil)) }
            guard case .unavailable(let reason)? = error else {
                Issue.record("expected unavailable, got \(String(describing: error))")
                return
            }
            #expect(reason.contains(SQLiteStore.databasePath(directory: directory)), "\(reason)")
            #expect(reason.contains("cannot open") && reason.contains("Is a directory"), "\(reason)")
        }
    }

    @Test func directoryInPlaceOfTheWALIsAClearError() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(directory: directory, options: Self.options(vfs: nil))
            _ = try await store.create("/k", value: [])
            await store.close()
            let wal = SQLiteStore.databasePath(directory: directory) + "-wal"
            try? FileManager.default.removeItem(atPath: wal)
            try FileManager.default.createDirectory(atPath: wal, withIntermediateDirectories: false)
            let error = await storeError { _ = try await SQLiteStore.open(directory: directory, options: Self.options(vfs: nil)) }
            guard case .unavailable(let reason)? = error else {
                Issue.record("expected unavailable, got \(String(describing: error))")
                return
            }
            #expect(reason.contains(SQLiteStore.databasePath(directory: directory)), "\(reason)")
            #expect(reason.contains("-wal") && reason.contains("Is a directory"), "\(reason)")
        }
    }

    @Test func readErrorsAtOpenAreAClearErrorAndHarmNothing() async throws {
        let vfs = try FaultVFS()
        defer { vfs.unregister() }
        try await withTemporaryDirectory { directory in
            let revision = try await Self.storeKeptKey(in: directory, vfs: vfs)
            vfs.arm(.read, on: .database, count: nil, code: SQLiteCode.ioerrRead)
            let error = await storeError { _ = try await SQLiteStore.open(directory: directory, options: Self.options(vfs: vfs)) }
            vfs.disarm()
            Self.expectReadFault(error, vfs: vfs)
            // The failed open released the directory and changed nothing.
            let reopened = try await SQLiteStore.open(directory: directory, options: Self.options(vfs: vfs))
            #expect(try await reopened.get("/k") == KeyValue(key: "/k", value: bytes("kept"), createRevision: revision, modRevision: revision))
            await reopened.close()
        }
    }

    /// A reader whose connection opened but whose set-up failed (here: the schema read under its
    /// first PRAGMA) closes that connection: the failed open leaves no descriptor on the database.
    @Test func aReaderWhoseSetUpFailsClosesItsConnection() async throws {
        let vfs = try FaultVFS()
        defer { vfs.unregister() }
        try await withTemporaryDirectory { directory in
            _ = try await Self.storeKeptKey(in: directory, vfs: vfs)
            let path = SQLiteStore.databasePath(directory: directory)
            #expect(Self.openDescriptors(under: path).isEmpty)
            // The open itself reads the header (let through); the PRAGMAs' schema read fails.
            vfs.arm(.read, on: .database, skip: 1, count: nil, code: SQLiteCode.ioerrRead)
            let error = await storeError { _ = try await ReaderPool.open(path: path, count: 2, vfs: vfs.name) }
            vfs.disarm()
            Self.expectReadFault(error, vfs: vfs)
            #expect(Self.openDescriptors(under: path).isEmpty, "a failed reader left its database open")
        }
    }

    // MARK: Helpers

    /// Opens a store in `directory`, creates `/k` = "kept" and closes it; returns the revision.
    static func storeKeptKey(in directory: String, vfs: FaultVFS) async throws -> Int64 {
        let store = try await SQLiteStore.open(directory: directory, options: options(vfs: vfs))
        let revision = try await store.create("/k", value: bytes("kept"))
        await store.close()
        return revision
    }

    /// `error` is the clear I/O error of a read that `vfs` failed.
    static func expectReadFault(_ error: StoreError?, vfs: FaultVFS) {
        #expect(vfs.failures > 0)
        guard case .unavailable(let reason)? = error else {
            Issue.record("expected unavailable, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("I/O error"), "\(reason)")
    }

    /// This process's descriptors on `path` or its `-wal` and `-shm` files.
    static func openDescriptors(under path: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return entries.compactMap { entry in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(entry)"),
                target == path || target == path + "-wal" || target == path + "-shm"
            else { return nil }
            return "\(entry) -> \(target)"
        }
    }

    static func options(vfs: FaultVFS?) -> SQLiteStoreOptions {
        var options = SQLiteStoreOptions()
        options.retention = nil
        options.vfsName = vfs?.name
        return options
    }

    /// A recognisable kilobyte that must never be readable after its write failed.
    static func lostValue(_ index: Int) -> [UInt8] {
        Array("lost-value-\(index)-".utf8) + [UInt8](repeating: UInt8(index), count: 1000)
    }

    /// Creates `writes` as one group-commit batch (the writer is held until all are queued); returns
    /// each write's outcome in order.
    static func batch(_ store: SQLiteStore, _ writes: [(String, [UInt8])]) async throws -> [Result<Int64, StoreError>] {
        store.writer.hold(true)
        async let outcomes = withTaskGroup(of: (Int, Result<Int64, StoreError>).self) { group in
            for (index, (key, value)) in writes.enumerated() {
                group.addTask {
                    do throws(StoreError) {
                        return (index, .success(try await store.create(key, value: value)))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            var results = [Result<Int64, StoreError>?](repeating: nil, count: writes.count)
            for await (index, result) in group { results[index] = result }
            return results.compactMap { $0 }
        }
        // Bounded wait until every write is queued behind the held writer.
        for _ in 0..<2000 where store.writer.pendingCount < writes.count {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(store.writer.pendingCount == writes.count)
        let before = store.statistics.writeTransactions
        store.writer.hold(false)
        let results = await outcomes
        #expect(store.statistics.writeTransactions - before <= 1, "the writes were not one batch")
        return results
    }

    /// A copy of the data directory's database and WAL as they are now: what a crash would leave.
    static func crashCopy(of data: String, in directory: String) async throws -> SQLiteStore {
        let copy = directory + "/crash-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: false)
        let source = SQLiteStore.databasePath(directory: data)
        let target = SQLiteStore.databasePath(directory: copy)
        try FileManager.default.copyItem(atPath: source, toPath: target)
        if FileManager.default.fileExists(atPath: source + "-wal") {
            try FileManager.default.copyItem(atPath: source + "-wal", toPath: target + "-wal")
        }
        return try await SQLiteStore.open(directory: copy, options: options(vfs: nil))
    }

    static func expectCrashCopy(of data: String, in directory: String, holds model: StoreModel) async throws {
        let copy = try await crashCopy(of: data, in: directory)
        #expect(try await copy.list(prefix: "/").items == model.state(at: .max, prefix: "/"), "after a crash")
        #expect(try await copy.currentRevision() == model.events.last?.revision ?? 0, "after a crash")
        await copy.close()
    }

    /// Reopens `data` and checks it holds exactly `model`'s history and state.
    static func expectReopened(_ data: String, vfs: FaultVFS, holds model: StoreModel) async throws {
        let store = try await SQLiteStore.open(directory: data, options: options(vfs: vfs))
        #expect(try await store.list(prefix: "/").items == model.state(at: .max, prefix: "/"))
        let head = try await store.currentRevision()
        #expect(head == model.events.last?.revision ?? 0)
        #expect(try await collect(try await store.watch(prefix: "/", fromRevision: 0), count: Int(head)) == model.events)
        await store.close()
    }
}
