@testable import CapstanStore
import CapstanTestSupport
import Foundation
import Testing

/// `capstan backup` and `restore`: a backup taken while writes go on holds exactly one revision of
/// the store, and the restored store serves it with its revision moved past the old numbers.
@Suite("SQLite backup and restore", .timeLimit(.minutes(2)))
struct SQLiteBackupTests {
    /// Every key under `prefix` at `revision` (0: now) as "key=value@modRevision", paged.
    static func contents(_ store: SQLiteStore, prefix: String, revision: Int64 = 0) async throws -> [String] {
        var lines: [String] = []
        var after: String?
        var at = revision
        repeat {
            let page = try await store.list(prefix: prefix, after: after, limit: 50, revision: at)
            at = page.revision
            lines += page.items.map { "\($0.key)=\(String(decoding: $0.value, as: UTF8.self))@\($0.modRevision)" }
            after = page.more ? page.items.last?.key : nil
        } while after != nil
        return lines
    }

    @Test func aBackupTakenDuringWritesRestoresOneRevision() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(directory: directory + "/a", options: SQLiteSchemaTests.options())
            _ = try await SQLiteSchemaTests.write(store)
            // A writer goes on while the backup is taken, so the copy must pick one revision among them.
            let writer = Task {
                var acknowledged: [(key: String, revision: Int64)] = []
                for index in 0..<400 {
                    let key = "/k/w\(pad(index))"
                    acknowledged.append((key, try await store.create(key, value: bytes("w\(index)"))))
                }
                return acknowledged
            }
            try await Task.sleep(for: .milliseconds(20))
            let summary = try await Task.detached {
                try SQLiteBackup.backup(directory: directory + "/a", to: directory + "/backup")
            }.value
            let acknowledged = try await writer.value
            let expected = try await Self.contents(store, prefix: "/k/", revision: summary.revision)
            #expect(summary.keys == expected.count)
            #expect(!FileManager.default.fileExists(atPath: directory + "/backup.partial"))
            #expect(try permissionBits(of: directory + "/backup") == 0o600)

            let restored = try await SQLiteBackup.restore(
                from: directory + "/backup", into: directory + "/b", bumpRevision: 1_000)
            #expect(restored.revision == summary.revision + 1_000)
            #expect(restored.keys == expected.count)
            let copy = try await SQLiteStore.open(directory: directory + "/b", options: SQLiteSchemaTests.options())
            #expect(try await Self.contents(copy, prefix: "/k/") == expected)
            // Writes acknowledged up to the backup's revision are in it; later ones are not.
            let keys = Set(expected.map { $0.prefix { $0 != "=" } })
            for write in acknowledged {
                #expect(keys.contains(Substring(write.key)) == (write.revision <= summary.revision), "\(write)")
            }
            #expect(try await copy.currentRevision() == summary.revision + 1_000)
            // Revisions from before the restore are compacted: a watcher lists again.
            await #expect(throws: StoreError.compacted(requested: summary.revision, compactedRevision: summary.revision + 1_000)) {
                _ = try await copy.watch(prefix: "/k/", fromRevision: summary.revision)
            }
            let watch = try await copy.watch(prefix: "/k/", fromRevision: summary.revision + 1_000)
            let revision = try await copy.create("/k/after", value: bytes("new"))
            #expect(revision == summary.revision + 1_001)
            var events = watch.makeAsyncIterator()
            let event = try #require(try await events.next())
            #expect(event.entry.key == "/k/after" && event.entry.modRevision == revision)
            await copy.close()
            await store.close()
        }
    }

    @Test func restoreDropsHistoryAndKeepsTheRevisionWithoutABump() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(directory: directory + "/a", options: SQLiteSchemaTests.options())
            _ = try await SQLiteSchemaTests.write(store)
            let expected = try await Self.contents(store, prefix: "/k/")
            let head = try await store.currentRevision()
            await store.close()
            // A store whose server is stopped backs up the same way.
            let summary = try SQLiteBackup.backup(directory: directory + "/a", to: directory + "/backup")
            #expect(summary.revision == head)
            let restored = try await SQLiteBackup.restore(from: directory + "/backup", into: directory + "/b", bumpRevision: 0)
            #expect(restored.revision == head)
            let copy = try await SQLiteStore.open(directory: directory + "/b", options: SQLiteSchemaTests.options())
            #expect(try await Self.contents(copy, prefix: "/k/") == expected)
            await #expect(throws: StoreError.compacted(requested: head - 1, compactedRevision: head)) {
                _ = try await copy.list(prefix: "/k/", after: nil, limit: 0, revision: head - 1)
            }
            await copy.close()
            // The backup holds no history either: one row per key.
            let backupRows = try Connection(path: directory + "/backup", create: false)
            #expect(try backupRows.scalarText("SELECT COUNT(*) FROM log") == "\(expected.count)")
            backupRows.close()
            // Only each key's live row is left: no superseded rows, no tombstones.
            let connection = try Connection(path: SQLiteStore.databasePath(directory: directory + "/b"), create: false)
            defer { connection.close() }
            #expect(try connection.scalarText("SELECT COUNT(*) FROM log") == "\(expected.count)")
        }
    }

    /// A copy of a store's files taken while it was stopped (store.db with a WAL that holds
    /// commits) restores too, and is read without being changed; a lease and its key come along.
    @Test func restoreFromCopiedFilesLeavesThemAsTheyWere() async throws {
        try await withTemporaryDirectory { directory in
            var options = SQLiteSchemaTests.options()
            options.checkpointPages = nil  // every commit stays in the WAL
            let store = try await SQLiteStore.open(directory: directory + "/a", options: options)
            let lease = try await store.grantLease(ttl: .seconds(600))
            _ = try await store.create("/k/leased", value: bytes("l"), lease: lease)
            for index in 0..<20 { _ = try await store.create("/k/\(pad(index))", value: bytes("\(index)")) }
            let expected = try await Self.contents(store, prefix: "/k/")
            // Copied while the store is open: the WAL holds the commits (a copy after close would
            // find them checkpointed).
            try FileManager.default.createDirectory(atPath: directory + "/copy", withIntermediateDirectories: true)
            for suffix in ["", "-wal"] {
                try FileManager.default.copyItem(
                    atPath: directory + "/a/store.db" + suffix, toPath: directory + "/copy/store.db" + suffix)
            }
            await store.close()
            let before = try Data(contentsOf: URL(fileURLWithPath: directory + "/copy/store.db"))
            let wal = try Data(contentsOf: URL(fileURLWithPath: directory + "/copy/store.db-wal"))
            #expect(wal.count > 0)
            let restored = try await SQLiteBackup.restore(from: directory + "/copy/store.db", into: directory + "/b", bumpRevision: 0)
            #expect(restored.keys == expected.count)
            #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/copy/store.db")) == before)
            #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/copy/store.db-wal")) == wal)
            let copy = try await SQLiteStore.open(directory: directory + "/b", options: SQLiteSchemaTests.options())
            #expect(try await Self.contents(copy, prefix: "/k/") == expected)
            #expect(try await copy.keepAlive(lease) == .seconds(600))
            await copy.close()
        }
    }

    @Test func backupAndRestoreRefuseWhatWouldLoseOrMixData() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(directory: directory + "/a", options: SQLiteSchemaTests.options())
            _ = try await store.create("/k/one", value: bytes("1"))
            _ = try SQLiteBackup.backup(directory: directory + "/a", to: directory + "/backup")

            func reason(_ body: () async throws -> Void) async -> String {
                do {
                    try await body()
                    return "no error"
                } catch {
                    guard case .invalid(let reason)? = error as? StoreError else { return "not invalid: \(error)" }
                    return reason
                }
            }
            // A backup never overwrites a file, and needs a store.
            try Data("keep".utf8).write(to: URL(fileURLWithPath: directory + "/taken"))
            #expect(await reason { _ = try SQLiteBackup.backup(directory: directory + "/a", to: directory + "/taken") }
                .contains("exists; give the backup a new name"))
            #expect(try String(contentsOfFile: directory + "/taken", encoding: .utf8) == "keep")
            #expect(await reason { _ = try SQLiteBackup.backup(directory: directory + "/none", to: directory + "/b2") }
                .contains("no store in \(directory)/none"))

            // A restore never mixes two stores: a directory holding one is refused (one in use: the executable's test).
            await store.close()
            #expect(await reason { _ = try await SQLiteBackup.restore(from: directory + "/backup", into: directory + "/a") }
                .contains("already holds a store"))
            let stillThere = try await SQLiteStore.open(directory: directory + "/a", options: SQLiteSchemaTests.options())
            #expect(try await stillThere.get("/k/one").modRevision == 1)
            await stillThere.close()

            // Files that are not backups are refused, and the directory made for them goes again.
            #expect(await reason { _ = try await SQLiteBackup.restore(from: directory + "/taken", into: directory + "/c") }
                == "\(directory)/taken is not a backup of a Capstan store: it is not a SQLite database")
            #expect(!FileManager.default.fileExists(atPath: directory + "/c"))
            let other = try Connection(path: directory + "/other.db", create: true)
            try other.execute("CREATE TABLE t (x)")
            other.close()
            #expect(await reason { _ = try await SQLiteBackup.restore(from: directory + "/other.db", into: directory + "/c") }
                .contains("is not a backup of a Capstan store (it has no log and meta tables)"))
            #expect(await reason { _ = try await SQLiteBackup.restore(from: directory + "/missing", into: directory + "/c") }
                .contains("no such file"))
            #expect(await reason {
                _ = try await SQLiteBackup.restore(from: directory + "/backup", into: directory + "/c", bumpRevision: -1)
            }.contains("must not be negative"))
            #expect(!FileManager.default.fileExists(atPath: directory + "/c"))
        }
    }
}
