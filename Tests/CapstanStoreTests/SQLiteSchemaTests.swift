@testable import CapstanStore
import CapstanTestSupport
import Foundation
import Testing

/// The database layout: one index by name serves every query, and a version-1 database (which had
/// a second one) opens, loses that index and keeps every row.
@Suite("SQLite schema")
struct SQLiteSchemaTests {
    static func options() -> SQLiteStoreOptions {
        var options = SQLiteStoreOptions()
        options.retention = nil
        return options
    }

    /// Names of the `log` table's indexes, through a connection of its own (the store is closed).
    static func logIndexes(_ directory: String) throws -> [String] {
        let connection = try Connection(path: SQLiteStore.databasePath(directory: directory), create: false)
        defer { connection.close() }
        return try connection.column(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'log' ORDER BY name", limit: 10)
    }

    static func userVersion(_ directory: String) throws -> String? {
        let connection = try Connection(path: SQLiteStore.databasePath(directory: directory), create: false)
        defer { connection.close() }
        return try connection.scalarText("PRAGMA user_version")
    }

    /// Keys with several rows each (updates, a delete, a delete and a create again) and a lease,
    /// so that "the newest row at R" has superseded rows and tombstones to skip.
    struct History {
        var afterFirstRound: Int64 = 0
        var lease: Int64 = 0
    }

    static func write(_ store: SQLiteStore) async throws -> History {
        var history = History()
        history.lease = try await store.grantLease(ttl: .seconds(600))
        for index in 0..<40 {
            _ = try await store.create(
                "/k/\(pad(index))", value: bytes("v0-\(index)"), lease: index == 7 ? history.lease : 0)
        }
        history.afterFirstRound = try await store.currentRevision()
        for round in 1...3 {
            for index in stride(from: 0, to: 40, by: round + 1) {
                _ = try await store.update("/k/\(pad(index))", value: bytes("v\(round)-\(index)"), expectedRevision: 0)
            }
        }
        _ = try await store.delete("/k/\(pad(5))", expectedRevision: 0)
        _ = try await store.delete("/k/\(pad(6))", expectedRevision: 0)
        _ = try await store.create("/k/\(pad(6))", value: bytes("again"))
        return history
    }

    /// What the store answers, as text: every key now (paged by 7), the keys at the first round's
    /// revision, a get of each of four keys, and the lease's keys once it is revoked.
    static func answers(_ store: SQLiteStore, _ history: History) async throws -> [String] {
        var lines: [String] = []
        var after: String?
        var revision: Int64 = 0
        repeat {
            let page = try await store.list(prefix: "/k/", after: after, limit: 7, revision: revision)
            revision = page.revision
            lines += page.items.map { "\($0.key)=\(String(decoding: $0.value, as: UTF8.self))@\($0.modRevision)" }
            after = page.more ? page.items.last?.key : nil
        } while after != nil
        let old = try await store.list(prefix: "/k/", after: nil, limit: 0, revision: history.afterFirstRound)
        lines += old.items.map { "then \($0.key)=\(String(decoding: $0.value, as: UTF8.self))@\($0.modRevision)" }
        for index in [0, 6, 7, 39] {
            let entry = try await store.get("/k/\(pad(index))")
            lines.append("get \(entry.key)=\(String(decoding: entry.value, as: UTF8.self))@\(entry.modRevision)")
        }
        return lines
    }

    @Test func oneIndexByNameServesEveryQuery() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(directory: directory, options: Self.options())
            let history = try await Self.write(store)
            let lines = try await Self.answers(store, history)
            #expect(lines.count == 39 + 40 + 4, "\(lines)")
            #expect(lines.contains("/k/000000=v3-0@\(try await store.get("/k/000000").modRevision)"))
            #expect(!lines.contains { $0.hasPrefix("/k/000005=") }, "a deleted key is not listed")
            #expect(lines.contains { $0.hasPrefix("/k/000006=again@") })
            #expect(lines.contains { $0.hasPrefix("then /k/000005=v0-5@") }, "the old revision still has it")
            #expect(lines.filter { $0.hasPrefix("then ") }.allSatisfy { $0.contains("=v0-") })
            // Revoking the lease deletes the newest row of its one key, not an older one.
            try await store.revokeLease(history.lease)
            let revoked = await storeError { _ = try await store.get("/k/000007") }
            guard case .notFound? = revoked else {
                Issue.record("the lease's key must be gone, got \(String(describing: revoked))")
                await store.close()
                return
            }
            #expect(try await store.get("/k/000001").value == bytes("v0-1"))
            await store.close()
            #expect(try Self.logIndexes(directory) == ["log_lease", "log_name_prev_revision"])
            #expect(try Self.userVersion(directory) == "\(Schema.version)")
        }
    }

    /// A database written with version 1's second index opens, drops it, and answers as before.
    @Test func versionOneDatabaseMigrates() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(directory: directory, options: Self.options())
            let history = try await Self.write(store)
            let before = try await Self.answers(store, history)
            await store.close()
            do {
                let connection = try Connection(path: SQLiteStore.databasePath(directory: directory), create: false)
                defer { connection.close() }
                try connection.execute("CREATE INDEX log_name_id ON log (name, id); PRAGMA user_version = 1;")
            }
            #expect(try Self.logIndexes(directory) == ["log_lease", "log_name_id", "log_name_prev_revision"])

            let reopened = try await SQLiteStore.open(directory: directory, options: Self.options())
            #expect(try await Self.answers(reopened, history) == before)
            _ = try await reopened.update("/k/000001", value: bytes("after"), expectedRevision: 0)
            #expect(try await reopened.get("/k/000001").value == bytes("after"))
            await reopened.close()
            #expect(try Self.logIndexes(directory) == ["log_lease", "log_name_prev_revision"])
            #expect(try Self.userVersion(directory) == "2")
        }
    }
}
