@testable import CapstanStore
import CapstanTestSupport
import Foundation
import Synchronization
import Testing

/// Behaviour particular to the SQLite backend: its directory, its files, group commit, compaction
/// of rows, and the watcher's bounded queue.
@Suite("SQLiteStore")
struct SQLiteStoreTests {
    static func options(_ configure: (inout SQLiteStoreOptions) -> Void = { _ in }) -> SQLiteStoreOptions {
        var options = SQLiteStoreOptions()
        options.retention = nil
        configure(&options)
        return options
    }

    @Test func directoryLockNamesTheHolder() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(directory: directory, options: Self.options())
            let error = await storeError { _ = try await SQLiteStore.open(directory: directory) }
            guard case .unavailable(let reason)? = error else {
                Issue.record("a second open must fail, got \(String(describing: error))")
                await store.close()
                return
            }
            #expect(reason.contains("pid \(ProcessInfo.processInfo.processIdentifier)"), "\(reason)")
            #expect(reason.contains(directory))
            await store.close()
            // Closing releases it.
            let again = try await SQLiteStore.open(directory: directory, options: Self.options())
            await again.close()
        }
    }

    /// A WAL that lost commits (deleted, truncated, damaged) makes SQLite open without them and
    /// hand their revisions out again: the head mark, kept outside the database, refuses that open.
    @Test func aStoreBehindItsHeadMarkIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(directory: directory + "/a")
            var head: Int64 = 0
            for index in 0..<50 { head = try await store.create("/k/\(index)", value: bytes("\(index)")) }
            let database = SQLiteStore.databasePath(directory: directory + "/a")
            // The checkpointer marks the committed head within about a second.
            #expect(await eventually { HeadMark.read(database: database) == head })
            // The files a deleted WAL leaves: the database without the commits still in the WAL.
            try FileManager.default.createDirectory(atPath: directory + "/b", withIntermediateDirectories: true)
            for suffix in ["", "-head"] {
                try FileManager.default.copyItem(atPath: database + suffix, toPath: directory + "/b/store.db" + suffix)
            }
            await store.close()
            do throws(StoreError) {
                let opened = try await SQLiteStore.open(directory: directory + "/b")
                await opened.close()
                Issue.record("a store behind its mark opened")
            } catch {
                #expect(error.reason.contains("had made revision \(head) durable"), "\(error)")
                #expect(error.reason.contains("lost commits"), "\(error)")
            }
            // Told to go on with what is left, by removing the mark, it opens.
            try FileManager.default.removeItem(atPath: directory + "/b/store.db-head")
            let rest = try await SQLiteStore.open(directory: directory + "/b")
            #expect(try await rest.currentRevision() < head)
            await rest.close()
            // The store itself, closed and opened again, is not behind its mark.
            let again = try await SQLiteStore.open(directory: directory + "/a")
            #expect(try await again.currentRevision() == head)
            await again.close()
        }
    }

    /// Rows written by another process (a second server whose LOCK was removed) clash with the
    /// revisions this writer numbers: the error says so, without SQL, instead of "retry".
    @Test func rowsFromAnotherProcessAreNamed() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(directory: directory)
            let head = try await store.create("/a", value: bytes("1"))
            let other = try Connection(path: SQLiteStore.databasePath(directory: directory), create: false)
            try other.execute(
                "INSERT INTO log (id, name, created, deleted, create_revision, prev_revision, lease, value) "
                    + "VALUES (\(head + 1), '/b', 1, 0, \(head + 1), 0, 0, x'00')")
            other.close()
            do throws(StoreError) {
                _ = try await store.create("/c", value: bytes("3"))
                Issue.record("a create over another process's row succeeded")
            } catch {
                #expect(error.reason.contains("was changed by another process"), "\(error)")
                #expect(error.reason.contains("LOCK file removed") && !error.reason.contains("INSERT"), "\(error)")
            }
            await store.close()
        }
    }

    /// An open creates a missing data directory with its missing parents (`mkdir -p`): the
    /// directory only its owner may read (it holds the cluster's state), the parents 0755.
    @Test func openCreatesTheDirectoryAndItsParents() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(directory: directory + "/new/sub/data/", options: Self.options())
            _ = try await store.create("/kept", value: bytes("1"))
            await store.close()
            let mask = try currentUmask()
            let mode = permissionBits(of:)
            #expect(try mode(directory + "/new/sub/data") == 0o700 & ~mask)
            #expect(try mode(directory + "/new/sub") == 0o755 & ~mask)
            #expect(try mode(directory + "/new") == 0o755 & ~mask)
            // An existing directory is left as it is.
            try FileManager.default.setAttributes([.posixPermissions: 0o750], ofItemAtPath: directory + "/new/sub/data")
            let again = try await SQLiteStore.open(directory: directory + "/new/sub/data", options: Self.options())
            #expect(try await again.get("/kept").value == bytes("1"))
            await again.close()
            #expect(try mode(directory + "/new/sub/data") == 0o750)
        }
        // The store's files are its owner's only (SQLite made store.db and its WAL 0644), also
        // in an existing directory others may read.
        try await withTemporaryDirectory { directory in
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory)
            let store = try await SQLiteStore.open(directory: directory, options: Self.options())
            _ = try await store.create("/kept", value: bytes("1"))
            for file in ["store.db", "store.db-wal", "store.db-shm", "LOCK"] {
                #expect(try permissionBits(of: directory + "/" + file) & 0o077 == 0, "\(file)")
            }
            await store.close()
        }
        #expect(DirectoryLock.parentDirectory(of: "/a/b//") == "/a")
        #expect(DirectoryLock.parentDirectory(of: "/a") == "/")
        #expect(DirectoryLock.parentDirectory(of: "/") == nil)
        #expect(DirectoryLock.parentDirectory(of: "a/b") == "a")
        #expect(DirectoryLock.parentDirectory(of: "a") == nil)
    }

    /// An open that finds the directory held keeps trying for a moment, so a holder that is just
    /// letting go (a process exiting, a forked child not yet exec'd) does not fail it.
    @Test func openWaitsBrieflyForAHolderThatLetsGo() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(directory: directory, options: Self.options())
            _ = try await store.create("/kept", value: bytes("1"))
            await store.close()
            // The holder is the lock alone, so it lets go at a known moment: a store's close can
            // take longer than the open's patience on a loaded machine.
            let holder = try await DirectoryLock.acquire(directory: directory)
            // Let go from a thread of its own, 200 ms on: a task sleeping on a busy cooperative
            // pool could wake past the open's one second of patience.
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(200)) { holder.unlock() }
            async let second = SQLiteStore.open(directory: directory, options: Self.options())
            let reopened = try await second
            #expect(try await reopened.get("/kept").value == bytes("1"))
            await reopened.close()
        }
    }

    /// The store's threads carry names (what `top -H`, `ps -L` and `perf` show an operator).
    @Test func threadsAreNamed() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(directory: directory, options: Self.options())
            let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")
            let names = Set(tasks.compactMap { task in
                (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8))?
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            })
            #expect(names.isSuperset(of: ["store-writer", "store-reader-0", "store-reader-1"]), "\(names.sorted())")
            await store.close()
        }
    }

    @Test func reopenKeepsDataRevisionsAndLeases() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(directory: directory, options: Self.options())
            let lease = try await store.grantLease(ttl: .seconds(600))
            let created = try await store.create("/a", value: bytes("1"), lease: lease)
            let updated = try await store.update("/a", value: bytes("2"), expectedRevision: 0)
            _ = try await store.create("/b", value: bytes("b"))
            let deleted = try await store.delete("/b", expectedRevision: 0)
            // Compacting away the newest row (a tombstone) must not lose the revision counter.
            try await store.compact(deleted.modRevision)
            await store.close()

            let reopened = try await SQLiteStore.open(directory: directory, options: Self.options())
            #expect(try await reopened.currentRevision() == deleted.modRevision)
            #expect(try await reopened.get("/a") == KeyValue(key: "/a", value: bytes("2"), createRevision: created, modRevision: updated, lease: lease))
            #expect(try await reopened.keepAlive(lease) == .seconds(600))
            #expect(try await reopened.create("/c", value: []) == deleted.modRevision + 1)
            #expect(await storeError { _ = try await reopened.watch(prefix: "/", fromRevision: 1) }?.isCompacted == true)
            await reopened.close()
        }
    }

    @Test func notADatabaseIsAClearError() async throws {
        try await withTemporaryDirectory { directory in
            let garbage = Data((0..<16384).map { UInt8(truncatingIfNeeded: $0 &* 7) })
            try garbage.write(to: URL(fileURLWithPath: SQLiteStore.databasePath(directory: directory)))
            let error = await storeError { _ = try await SQLiteStore.open(directory: directory) }
            guard case .unavailable(let reason)? = error else {
                Issue.record("expected unavailable, got \(String(describing: error))")
                return
            }
            #expect(reason.contains("not a SQLite database"), "\(reason)")
            // The failed open released the directory.
            try FileManager.default.removeItem(atPath: SQLiteStore.databasePath(directory: directory))
            let store = try await SQLiteStore.open(directory: directory, options: Self.options())
            await store.close()
        }
    }

    @Test func cleanCloseLeavesAnEmptyWAL() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(directory: directory, options: Self.options())
            for index in 0..<500 { _ = try await store.create("/w/\(pad(index))", value: Array(repeating: 3, count: 300)) }
            let path = SQLiteStore.databasePath(directory: directory)
            let walPath = path + "-wal"
            let before = (try? FileManager.default.attributesOfItem(atPath: walPath)[.size] as? Int) ?? 0
            #expect(before > 0, "the WAL holds the recent commits while the store is open")
            // Another connection stays open across the close (as a backup tool's might, or a reader
            // thread still closing), so the store's last close is not the database's last one and
            // SQLite's own checkpoint-on-last-close cannot be what empties the WAL.
            let bystander = try Connection(path: path, create: false)
            defer { bystander.close() }
            try bystander.execute("SELECT count(*) FROM sqlite_master;")
            await store.close()
            let after = (try? FileManager.default.attributesOfItem(atPath: walPath)[.size] as? Int) ?? 0
            #expect(after == 0, "a clean close checkpoints every commit and empties the WAL (\(after) bytes left)")
            let reopened = try await SQLiteStore.open(directory: directory, options: Self.options())
            #expect(try await reopened.list(prefix: "/w/").items.count == 500)
            await reopened.close()
        }
    }

    @Test func corruptDatabaseIsAClearError() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(directory: directory, options: Self.options())
            for index in 0..<2000 { _ = try await store.create("/k/\(pad(index))", value: Array(repeating: 7, count: 200)) }
            await store.close()
            let path = SQLiteStore.databasePath(directory: directory)
            let handle = try #require(FileHandle(forUpdatingAtPath: path))
            let size = try handle.seekToEnd()
            try handle.seek(toOffset: size / 2)
            try handle.write(contentsOf: Data(repeating: 0xA5, count: 16384))
            try handle.close()
            let error = await storeError { _ = try await SQLiteStore.open(directory: directory) }
            guard case .unavailable(let reason)? = error else {
                Issue.record("expected unavailable, got \(String(describing: error))")
                return
            }
            #expect(reason.contains("corrupt") || reason.contains("malformed"), "\(reason)")
        }
    }

    @Test func groupCommitTakesEveryPendingWriteInOneTransaction() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(directory: directory, options: Self.options())
            _ = try await store.create("/warm", value: [])
            let before = store.statistics.writeTransactions
            store.writer.hold(true)
            let writes = 50
            async let revisions = withThrowingTaskGroup(of: Int64.self) { group in
                for index in 0..<writes {
                    group.addTask { try await store.create("/g/\(index)", value: bytes("\(index)")) }
                }
                // One of them conflicts with itself's sibling to show failed checks ride along.
                group.addTask {
                    do { return try await store.create("/warm", value: []) } catch { return -1 }
                }
                return try await group.reduce(into: [Int64]()) { $0.append($1) }
            }
            // Bounded wait for every write to be queued behind the held writer.
            for _ in 0..<2000 where store.writer.pendingCount < writes + 1 {
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(store.writer.pendingCount == writes + 1)
            store.writer.hold(false)
            let results = try await revisions
            #expect(store.statistics.writeTransactions - before == 1)
            #expect(results.filter { $0 > 0 }.sorted() == Array(2...Int64(writes + 1)))
            #expect(results.filter { $0 == -1 }.count == 1)
            await store.close()
        }
    }

    @Test func backgroundCompactionRemovesSupersededRows() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(
                directory: directory,
                options: Self.options {
                    $0.retention = .init(revisions: 10, duration: .zero)
                    $0.compactionStep = 16
                })
            let created = try await store.create("/hot", value: bytes("0"))
            var revision = created
            for step in 1...200 { revision = try await store.update("/hot", value: bytes("\(step)"), expectedRevision: revision) }
            for index in 0..<50 {
                _ = try await store.create("/tmp/\(index)", value: [])
                _ = try await store.delete("/tmp/\(index)", expectedRevision: 0)
            }
            let head = try await store.currentRevision()
            // Bounded wait for the background compactor (it runs about once a second when idle).
            for _ in 0..<600 where store.writer.compactedRevision.load(ordering: .acquiring) < head - 10 {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(store.writer.compactedRevision.load(ordering: .acquiring) == head - 10)
            let rows = try await store.readers.read { connection throws(StoreError) in
                try connection.column("SELECT count(*) FROM log", limit: 1)
            }
            // The last 10 revisions, plus at most the one live row of /hot at or before the compaction point.
            #expect(Int(rows.first ?? "") ?? .max <= 11, "rows left: \(rows)")
            #expect(store.statistics.compactedRows >= head - 11)
            #expect(try await store.get("/hot").value == bytes("200"))
            #expect(try await store.list(prefix: "/").items.map(\.key) == ["/hot"])
            #expect(await storeError { _ = try await store.watch(prefix: "/", fromRevision: head - 20) }?.isCompacted == true)
            await store.close()
        }
    }

    @Test func slowWatcherStaysBoundedAndLosesNothing() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(
                directory: directory,
                options: Self.options {
                    $0.watcherQueueCapacity = 8
                    $0.historyChunk = 16
                })
            let stream = try await store.watch(prefix: "/s/", fromRevision: 0)
            let watcher = try #require(stream.handle.source as? LogWatcher)
            var model = StoreModel()
            model.put("/s/first", [], revision: try await store.create("/s/first", value: []))
            #expect(try await collect(stream, count: 1) == model.events)
            try await Self.whileWaitingLive(watcher, stream) {
                model.put("/s/second", [], revision: try await store.create("/s/second", value: []))
            }
            for index in 0..<100 {
                let key = "/s/\(index % 7)"
                if model.live[key] == nil {
                    model.put(key, bytes("\(index)"), revision: try await store.create(key, value: bytes("\(index)")))
                } else {
                    model.put(key, bytes("\(index)"), revision: try await store.update(key, value: bytes("\(index)"), expectedRevision: 0))
                }
                #expect(watcher.queuedCount <= 8)
            }
            #expect(!watcher.isLive, "a watcher that fell behind leaves the live fan-out")
            let rest = try await collect(stream, count: 100)
            #expect(rest == Array(model.events.dropFirst(2)))
            // Caught up, it joins the fan-out again.
            try await Self.whileWaitingLive(watcher, stream) { _ = try await store.create("/s/after", value: []) }
            await store.close()
        }
    }

    /// Lets the consumer ask for the next event until the watcher is live (bounded wait), then runs
    /// `write` and checks the consumer gets exactly the one event it wrote.
    static func whileWaitingLive(_ watcher: LogWatcher, _ stream: WatchStream, write: () async throws -> Void) async throws {
        async let next = collect(stream, count: 1)
        for _ in 0..<2000 where !watcher.isLive { try await Task.sleep(for: .milliseconds(5)) }
        #expect(watcher.isLive)
        try await write()
        #expect(try await next.count == 1)
    }

    @Test func closingEndsWatchesAndRefusesCalls() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(directory: directory, options: Self.options())
            let stream = try await store.watch(prefix: "/", fromRevision: 0)
            _ = try await store.create("/x", value: [])
            _ = try await collect(stream, count: 1)
            await store.close()
            let error = await storeError { for try await _ in stream {} }
            #expect(error == .unavailable(reason: "the store is closed"))
            #expect(await storeError { _ = try await store.get("/x") } != nil)
            #expect(await storeError { _ = try await store.create("/y", value: []) } != nil)
        }
    }

    @Test func cancellingTheConsumerEndsTheWatch() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(directory: directory, options: Self.options())
            let stream = try await store.watch(prefix: "/", fromRevision: 0)
            let consumer = Task { () -> Int in
                var count = 0
                for try await _ in stream { count += 1 }
                return count
            }
            _ = try await store.create("/x", value: [])
            consumer.cancel()
            let count = try await bounded("the cancelled consumer to finish", seconds: 120) { try await consumer.value }
            #expect(count <= 1)
            await store.close()
        }
    }

    @Test func keyRanges() {
        #expect(KeyRange.end(ofPrefix: "/a/") == Array("/a0".utf8))
        #expect(KeyRange.end(ofPrefix: "") == [0xff])
        #expect(KeyRange.start(prefix: "/a/", after: nil) == Array("/a/".utf8))
        #expect(KeyRange.start(prefix: "/a/", after: "/a/x") == Array("/a/x".utf8) + [0])
        #expect(KeyRange.start(prefix: "/b/", after: "/a/x") == Array("/b/".utf8))
    }
}
