internal import CSQLite

#if canImport(Glibc)
import Glibc
#endif

/// One SQLite connection, used by one thread at a time (opened with `SQLITE_OPEN_NOMUTEX`), with a
/// cache of prepared statements. Not Sendable: each is created and used on the thread that owns it.
final class Connection {
    let path: String
    private let handle: OpaquePointer
    private var statements: [String: Statement] = [:]
    /// Kept alive while SQLite holds a pointer to it (see `reportCommits(to:)`).
    private var walMonitor: WALMonitor?

    /// Opens (creating when `create`) the database at `path`, through the VFS named `vfs` (nil: the
    /// default); `readOnly` for a file that must not change (a backup's source).
    init(path: String, create: Bool, vfs: String? = nil, readOnly: Bool = false) throws(StoreError) {
        self.path = path
        _ = PageCache.installed
        var handle: OpaquePointer?
        let access = readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0)
        let flags = access | SQLITE_OPEN_NOMUTEX
        let code = sqlite3_open_v2(path, &handle, flags, vfs)
        guard code == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            let systemErrno = handle.map { sqlite3_system_errno($0) } ?? 0
            sqlite3_close_v2(handle)
            throw Self.error(code: code, message: message, systemErrno: systemErrno, path: path, doing: "open")
        }
        self.handle = handle
        sqlite3_extended_result_codes(handle, 1)
        // Before the first statement, which reads the schema and so takes the database's SHARED lock:
        // a lock held a moment by a connection that another thread or process is closing (the
        // last one checkpoints under an EXCLUSIVE lock) is waited for instead of failing the open.
        sqlite3_busy_timeout(handle, Self.busyTimeoutMilliseconds)
    }

    /// How long a statement waits for another connection's lock before failing with SQLITE_BUSY.
    static let busyTimeoutMilliseconds: Int32 = 10_000

    /// Finalizes every statement, also those still referenced elsewhere (the writer keeps its insert
    /// statement), and closes the connection. With a statement left, `sqlite3_close_v2` would keep
    /// the connection open, and its locks held, until that statement is finalized: after the
    /// caller has reported the database closed.
    func close() {
        for statement in statements.values { statement.finalize() }
        statements.removeAll()
        sqlite3_close_v2(handle)
        walMonitor = nil
    }

    /// Replaces SQLite's automatic checkpoints (which run inside COMMIT) with a report of the WAL's
    /// size to `monitor` after every commit; a background `Checkpointer` acts on it.
    func reportCommits(to monitor: WALMonitor) {
        walMonitor = monitor
        let context = Unmanaged.passUnretained(monitor).toOpaque()
        sqlite3_wal_hook(
            handle,
            { context, _, _, frames in
                guard let context else { return SQLITE_OK }
                Unmanaged<WALMonitor>.fromOpaque(context).takeUnretainedValue().committed(frames: Int(frames))
                return SQLITE_OK
            }, context)
    }

    /// Copies the committed WAL frames no reader still needs into the database file and syncs it
    /// (a PASSIVE checkpoint: it waits for no lock). Returns the WAL's frames and how many of them are
    /// now in the database file, or nil when another connection is checkpointing.
    func checkpoint() throws(StoreError) -> (walFrames: Int, checkpointed: Int)? {
        var walFrames: Int32 = 0
        var checkpointed: Int32 = 0
        let code = sqlite3_wal_checkpoint_v2(
            handle, "main", SQLITE_CHECKPOINT_PASSIVE, &walFrames, &checkpointed)
        if code & 0xff == SQLITE_BUSY { return nil }
        if code != SQLITE_OK { throw error(code, doing: "checkpoint") }
        return (Int(max(0, walFrames)), Int(max(0, checkpointed)))
    }

    /// Copies every WAL frame into the database file, syncs it and truncates the WAL to zero bytes
    /// (a TRUNCATE checkpoint), waiting at most `wait` for readers to finish. Best effort, for a
    /// clean close: false when it could not complete (the WAL then stays and is replayed at the
    /// next open, as after a crash).
    func checkpointAndTruncate(wait milliseconds: Int32) -> Bool {
        sqlite3_busy_timeout(handle, milliseconds)
        let code = sqlite3_wal_checkpoint_v2(handle, "main", SQLITE_CHECKPOINT_TRUNCATE, nil, nil)
        return code == SQLITE_OK
    }

    /// Runs SQL without results (several statements allowed), parsing it each time.
    func execute(_ sql: String) throws(StoreError) {
        let code = sqlite3_exec(handle, sql, nil, nil, nil)
        if code != SQLITE_OK { throw error(code, doing: sql) }
    }

    /// Runs one statement without results through the statement cache: prepared once, where
    /// `execute` parses and compiles it on every call. For the transaction statements (BEGIN,
    /// COMMIT, ROLLBACK) run on every batch and every read.
    func run(_ sql: String) throws(StoreError) {
        try statement(sql).run()
    }

    /// The cached prepared statement for `sql`, reset and with bindings cleared.
    func statement(_ sql: String) throws(StoreError) -> Statement {
        if let cached = statements[sql] {
            cached.reset()
            return cached
        }
        var raw: OpaquePointer?
        let code = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &raw, nil)
        guard code == SQLITE_OK, let raw else { throw error(code, doing: "prepare \(sql)") }
        let statement = Statement(handle: raw, connection: self, sql: sql)
        statements[sql] = statement
        return statement
    }

    /// The text in the first column of the first row of `sql`, if any.
    func scalarText(_ sql: String) throws(StoreError) -> String? {
        let statement = try statement(sql)
        defer { statement.reset() }
        return try statement.step() ? statement.text(0) : nil
    }

    /// Every row's first column of `sql`, as text (for pragmas such as `quick_check`).
    func column(_ sql: String, limit: Int) throws(StoreError) -> [String] {
        let statement = try statement(sql)
        defer { statement.reset() }
        var rows: [String] = []
        while rows.count < limit, try statement.step() {
            rows.append(statement.text(0))
        }
        return rows
    }

    /// Whether no transaction is open (SQLite rolls back on its own after some errors).
    var isAutocommit: Bool { sqlite3_get_autocommit(handle) != 0 }

    /// Rows changed by every statement since the connection opened.
    var totalChanges: Int64 { sqlite3_total_changes64(handle) }

    func error(_ code: Int32, doing operation: String) -> StoreError {
        Self.error(
            code: code, message: String(cString: sqlite3_errmsg(handle)),
            systemErrno: sqlite3_system_errno(handle), path: path, doing: operation)
    }

    /// The operation an extended SQLITE_IOERR code names, for the common ones.
    private static func ioErrorKind(_ code: Int32) -> String? {
        switch code >> 8 {
        case 1: "read"
        case 2: "short read"
        case 3: "write"
        case 4: "fsync"
        case 5: "directory fsync"
        case 6: "truncate"
        case 7: "fstat"
        case 10: "delete"
        case 15: "lock"
        case 18: "shared-memory open"
        case 19: "shared-memory resize"
        case 21: "shared-memory map"
        case 24: "mmap"
        default: nil
        }
    }

    /// In the reason of every SQLITE_FULL error (see `StoreError.isFull`).
    static let fullMarker = "is full"

    /// Maps an SQLite result code to a `StoreError` whose reason says what to do.
    static func error(code: Int32, message: String, systemErrno: Int32, path: String, doing operation: String)
        -> StoreError
    {
        let primary = code & 0xff
        let system = systemErrno != 0 ? ", errno \(systemErrno): \(String(cString: strerror(systemErrno)))" : ""
        let detail = "\(message) (SQLite code \(code)\(system))"
        switch primary {
        case SQLITE_NOTADB:
            return .unavailable(
                reason: "\(path) is not a SQLite database: \(detail); move it aside and restore it from a backup")
        case SQLITE_CORRUPT:
            return .unavailable(
                reason: "the database \(path) is corrupt: \(detail); move it aside and restore it from a backup")
        case SQLITE_CANTOPEN, SQLITE_PERM, SQLITE_READONLY:
            return .unavailable(reason: "cannot open \(path) (or its -wal or -shm file) for writing: \(detail)")
        case SQLITE_FULL:
            return .unavailable(
                reason: "the database \(path) \(fullMarker) (its disk is full, or it reached the store's "
                    + "maxDatabaseBytes): \(detail); free space on its disk (deleting objects needs space too; "
                    + "the history the store compacts on its own is reused inside the file, which does not shrink)")
        case SQLITE_IOERR:
            return .unavailable(reason: "I/O error\(ioErrorKind(code).map { " (\($0) failed)" } ?? "") on \(path) or its WAL: \(detail)")
        case SQLITE_BUSY, SQLITE_LOCKED:
            return .unavailable(reason: "\(path) is busy: \(detail)")
        case SQLITE_CONSTRAINT where code == SQLITE_CONSTRAINT | (6 << 8):  // SQLITE_CONSTRAINT_PRIMARYKEY
            // The writer numbers revisions itself, after the newest row it knows: a clash on the
            // primary key means rows it did not write, by another process on the same file (its
            // LOCK removed). (Other constraints, such as the lost-update index, keep the plain message.)
            return .unavailable(
                reason: "the database \(path) was changed by another process (\(detail)): is a second server using "
                    + "its data directory (with the LOCK file removed)? Stop the other one, then restart this one")
        case SQLITE_TOOBIG:
            return .invalid(reason: "value too large for SQLite: \(detail)")
        default:
            return .unavailable(reason: "SQLite failed to \(operation) on \(path): \(detail)")
        }
    }
}
