#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Backup and restore of the embedded store, for `capstan backup` and `capstan restore`.
///
/// - **Backup** copies one consistent revision of `store.db` (with what its WAL holds) into a new
///   file through `VACUUM INTO`, on a read-only connection of its own: a server may go on serving
///   from the directory meanwhile (WAL readers do not block its writer). The copy is written as
///   `FILE.partial`, its history dropped (superseded rows and tombstones: the copy holds each
///   key's state at that revision, which is also compacted), synced, and only then linked as
///   `FILE`, so a crash never leaves a `FILE` that looks complete and is not, and a file that
///   appeared there meanwhile is not replaced.
/// - **Restore** makes a new data directory from a backup. It holds the directory's `LOCK`
///   throughout, checks that the file is a Capstan store, drops its history (superseded rows and
///   tombstones), and moves the revision past what clients may have seen since the backup: the
///   compaction revision becomes the backup's head plus `bumpRevision`, so the next write gets a
///   revision above every one handed out before, and a watch or read-after revision from before the
///   restore is answered OUT_OF_RANGE (list again) instead of with other writes that reuse its
///   numbers. That is what `etcdutl snapshot restore --bump-revision --mark-compacted` does for
///   Kubernetes. The file becomes `store.db` by a rename after it is synced.
public enum SQLiteBackup {
    /// What a backup or a restored store holds.
    public struct Summary: Sendable, Equatable {
        /// The store's revision: the backup's head, or after a restore the bumped one.
        public let revision: Int64
        /// Keys that exist (not deleted) at that revision.
        public let keys: Int
        /// The database file's size in bytes.
        public let bytes: Int
    }

    /// The bump `restore` applies by default, as Kubernetes' etcd restore procedure suggests: far
    /// more revisions than a cluster writes between a backup and its restore.
    public static let defaultBumpRevision: Int64 = 1_000_000_000

    /// Writes a compact, consistent copy of the store in `directory` to `output`, which must not
    /// exist yet. A server may be running on `directory`.
    public static func backup(directory: String, to output: String) throws(StoreError) -> Summary {
        let source = SQLiteStore.databasePath(directory: directory)
        guard exists(source) else {
            throw .invalid(reason: "no store in \(directory): it has no store.db (capstan up or apiserver creates it there)")
        }
        guard !exists(output) else {
            throw .invalid(reason: "\(output) exists; give the backup a new name (a backup never overwrites a file)")
        }
        let partial = output + ".partial"
        removeDatabase(partial)
        do throws(StoreError) {
            try copy(source, to: partial)
            try dropHistory(partial, bumpRevision: 0)
            let summary = try summarize(partial)
            try durablyLink(partial, to: output)
            return summary
        } catch {
            removeDatabase(partial)
            throw error
        }
    }

    /// Creates the store of `directory` (made if missing; it must hold no store) from `backup`,
    /// moving its revision up by `bumpRevision` (0: no bump; history is dropped either way).
    public static func restore(from backup: String, into directory: String, bumpRevision: Int64 = defaultBumpRevision)
        async throws(StoreError) -> Summary
    {
        guard bumpRevision >= 0 else { throw .invalid(reason: "the revision bump must not be negative") }
        guard exists(backup) else { throw .invalid(reason: "\(backup): no such file") }
        let created = !exists(directory)
        let lock = try await DirectoryLock.acquire(directory: directory)
        let target = SQLiteStore.databasePath(directory: directory)
        let restoring = target + ".restoring"
        do throws(StoreError) {
            for file in [target, target + "-wal"] where exists(file) {
                throw .invalid(
                    reason: "\(directory) already holds a store (\(file)); restore into a new directory, "
                        + "or move store.db and its -wal and -shm files away first")
            }
            removeDatabase(restoring)
            do throws(StoreError) {
                try copy(backup, to: restoring)
            } catch {
                // SQLite's advice for a damaged store ("restore it from a backup") does not fit here.
                let cause =
                    error.reason.contains("not a SQLite database")
                    ? "it is not a SQLite database"
                    : error.reason.replacing("; move it aside and restore it from a backup", with: "")
                throw .invalid(reason: "\(backup) is not a backup of a Capstan store: \(cause)")
            }
            try check(restoring, backup: backup)
            try dropHistory(restoring, bumpRevision: bumpRevision)
            let summary = try summarize(restoring)
            // A mark a store here had left would be below the bumped revision, or wrongly above it.
            unlink(target + "-shm")
            unlink(HeadMark.path(database: target))
            try durablyRename(restoring, to: target)
            lock.unlock()
            return summary
        } catch {
            removeDatabase(restoring)
            lock.unlock()
            // A directory made for this restore goes again, so that a retry (or a server) finds none.
            if created {
                unlink(lock.path)
                rmdir(directory)
            }
            throw error
        }
    }

    /// Checks the copy of `backup` at `path` is a Capstan store this build reads.
    private static func check(_ path: String, backup: String) throws(StoreError) {
        let connection = try Connection(path: path, create: false)
        defer { connection.close() }
        let check = try connection.column("PRAGMA quick_check", limit: 10)
        guard check == ["ok"] else {
            throw .invalid(reason: "\(backup) is damaged (quick_check: \(check.joined(separator: "; ")))")
        }
        let tables = try connection.column(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('log', 'meta') ORDER BY name", limit: 2)
        let version = Int64(try connection.scalarText("PRAGMA user_version") ?? "0") ?? 0
        guard tables == ["log", "meta"], version >= 1 else {
            throw .invalid(reason: "\(backup) is not a backup of a Capstan store (it has no log and meta tables)")
        }
        guard version <= Schema.version else {
            throw .invalid(reason: "\(backup) has schema version \(version), newer than this build's \(Schema.version)")
        }
    }

    /// Drops the history of the store copy at `path` (each key keeps its newest row, unless that
    /// is a tombstone) and sets its compaction revision to its head plus `bumpRevision`, in one
    /// transaction; then compacts the file.
    private static func dropHistory(_ path: String, bumpRevision: Int64) throws(StoreError) {
        let connection = try Connection(path: path, create: false)
        defer { connection.close() }
        try connection.run("BEGIN IMMEDIATE")
        do throws(StoreError) {
            let head = try connection.headRevision()
            guard head <= Int64.max / 2 - bumpRevision else {
                throw StoreError.invalid(reason: "revision \(head) plus a bump of \(bumpRevision) is too large")
            }
            try connection.execute(
                "DELETE FROM log WHERE deleted = 1 OR id IN (SELECT prev_revision FROM log WHERE prev_revision != 0)")
            let update = try connection.statement("UPDATE meta SET value = ?1 WHERE key = 'compact_revision'")
            try update.bind(1, head + bumpRevision)
            try update.run()
            try connection.run("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
        try connection.execute("VACUUM")
    }

    /// The revision, live keys and size of the database at `path`.
    private static func summarize(_ path: String) throws(StoreError) -> Summary {
        let connection = try Connection(path: path, create: false)
        defer { connection.close() }
        let revision = try connection.headRevision()
        // A key's newest row is the one no row follows; it exists unless that row is a tombstone.
        let live = try connection.scalarText(
            "SELECT COUNT(*) FROM log AS row WHERE row.deleted = 0 "
                + "AND NOT EXISTS (SELECT 1 FROM log AS next WHERE next.name = row.name AND next.prev_revision = row.id)")
        var status = stat()
        let bytes = stat(path, &status) == 0 ? Int(status.st_size) : 0
        return Summary(revision: revision, keys: Int(live ?? "0") ?? 0, bytes: bytes)
    }

    /// Removes a database file this code made, with the journal and WAL files SQLite may have
    /// left beside it.
    private static func removeDatabase(_ path: String) {
        for suffix in ["", "-journal", "-wal", "-shm"] { unlink(path + suffix) }
    }

    private static func exists(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0
    }

    /// Writes a compact copy of the database at `source` into the new file `destination` (0600)
    /// with `VACUUM INTO`: one consistent snapshot, whatever else has the source open. The source
    /// is opened read-only: neither a live store nor a backup is changed by being copied.
    private static func copy(_ source: String, to destination: String) throws(StoreError) {
        try DirectoryLock.createOwnerOnly(destination)
        let connection = try Connection(path: source, create: false, readOnly: true)
        defer { connection.close() }
        let statement = try connection.statement("VACUUM INTO ?1")
        try statement.bind(1, destination)
        try statement.run()
    }

    /// Syncs `path`, links it as `destination` (failing if that exists: it is never replaced),
    /// removes `path` and syncs the directory, so the name appears only with the whole file behind it.
    private static func durablyLink(_ path: String, to destination: String) throws(StoreError) {
        var taken = false
        do {
            try syncFile(path)
            do {
                try systemCall("link(\(path), \(destination))") { link(path, destination) }
            } catch where error.errno == EEXIST {
                taken = true
            }
            if !taken {
                unlink(path)
                try syncDirectory(DirectoryLock.parentDirectory(of: destination) ?? ".")
            }
        } catch {
            throw .unavailable(reason: "cannot write \(destination): \(error)")
        }
        if taken {
            throw .invalid(reason: "\(destination) exists; give the backup a new name (a backup never overwrites a file)")
        }
    }

    /// Syncs `path`, renames it to `destination` and syncs the directory, so the name appears only
    /// with the whole file behind it.
    private static func durablyRename(_ path: String, to destination: String) throws(StoreError) {
        do {
            try syncFile(path)
            try systemCall("rename(\(path), \(destination))") { rename(path, destination) }
            try syncDirectory(DirectoryLock.parentDirectory(of: destination) ?? ".")
        } catch {
            throw .unavailable(reason: "cannot write \(destination): \(error)")
        }
    }
}
