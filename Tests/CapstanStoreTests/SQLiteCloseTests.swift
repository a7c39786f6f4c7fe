@testable import CapstanStore
import Foundation
import Testing

/// Closing releases the database at once: when `Connection.close()` or `SQLiteStore.close()`
/// returns, SQLite has closed the connections and let go of their locks, so the next open (in this
/// process or another) never meets a connection still closing.
///
/// The bug these guard against: the writer thread kept its insert statement past its connection's
/// `close()`, so `sqlite3_close_v2` left the connection open as a "zombie" until the thread let go of
/// the statement, after the store had reported itself closed. The zombie's real close, the last of
/// the database's connections, takes the database file's EXCLUSIVE lock to checkpoint and delete the
/// WAL; a store reopened in that moment failed its first statement with "database is locked"
/// (SQLite code 5): about 2 % of immediate reopens, with or without the WAL write buffer (this is
/// what failed the buffer's fault-injection runs).
@Suite("SQLiteStore close")
struct SQLiteCloseTests {
    @Test func connectionClosesAtOnceWhileAStatementIsStillReferenced() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/test.db"
            let connection = try Connection(path: path, create: true)
            try connection.execute("PRAGMA journal_mode = WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            // Held elsewhere, as the writer thread holds its insert statement.
            let kept = try connection.statement("INSERT INTO t VALUES (?1)")
            try kept.bind(1, 2)
            try kept.run()
            connection.close()
            Self.expectFree(path, "after the connection closed")
            withExtendedLifetime(kept) {}
        }
    }

    /// Each round closes the store and opens it again at once, so a connection still closing would
    /// fail the open (before the fix, 10 of 600 such reopens failed).
    @Test(arguments: [0, 124 << 10]) func storeReopenedAtOnceAfterCloseFindsTheDatabaseFree(walBuffer: Int) async throws {
        try await withTemporaryDirectory { directory in
            var options = SQLiteFaultTests.options(vfs: nil)
            options.walWriteBufferBytes = walBuffer
            for round in 0..<150 {
                let store = try await SQLiteStore.open(directory: directory, options: options)
                #expect(try await store.create("/k/\(round)", value: bytes("\(round)")) == Int64(round + 1))
                await store.close()
                // Odd rounds check the database is free; even ones reopen it at once.
                if round % 2 == 1 { Self.expectFree(SQLiteStore.databasePath(directory: directory), "round \(round)") }
            }
            let store = try await SQLiteStore.open(directory: directory, options: options)
            #expect(try await store.list(prefix: "/k/").items.count == 150)
            await store.close()
        }
    }

    /// Records an issue unless a new connection can lock the database at `path` exclusively at once
    /// (no busy timeout): no other connection to it is open.
    static func expectFree(_ path: String, _ context: String) {
        do throws(StoreError) {
            let probe = try Connection(path: path, create: false)
            defer { probe.close() }
            // In WAL mode with exclusive locking, the first read takes the database file's EXCLUSIVE lock.
            try probe.execute("PRAGMA busy_timeout = 0; PRAGMA locking_mode = EXCLUSIVE; BEGIN; SELECT count(*) FROM sqlite_master; COMMIT;")
        } catch {
            Issue.record("\(context): another connection still holds the database: \(error)")
        }
    }
}
