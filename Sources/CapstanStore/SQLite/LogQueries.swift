/// The queries on the `log` table, shared by the writer and the readers.
extension Connection {
    private static let rowColumns = "id, name, created, deleted, create_revision, prev_revision, lease, value"
    private static let rowColumnsWithoutValue = "id, name, created, deleted, create_revision, prev_revision, lease, X''"
    /// Spelled once: every write checks the key's latest row (the text keys the statement cache).
    /// A name's rows are in `id` order in the `(name, prev_revision)` index too (`Schema`).
    static let latestRowSQL = "SELECT \(rowColumns) FROM log WHERE name = ?1 ORDER BY prev_revision DESC LIMIT 1"
    static let latestRowWithoutValueSQL =
        "SELECT \(rowColumnsWithoutValue) FROM log WHERE name = ?1 ORDER BY prev_revision DESC LIMIT 1"

    /// The row `statement` is on; `name` when the caller knows it (spares reading it back).
    private static func row(_ statement: Statement, name: String? = nil) -> LogRow {
        LogRow(
            revision: statement.int64(0), name: name ?? statement.text(1), created: statement.int64(2) != 0,
            deleted: statement.int64(3) != 0, createRevision: statement.int64(4), prevRevision: statement.int64(5),
            lease: statement.int64(6), value: statement.blob(7))
    }

    /// `latestRow` through `statement` (prepared from `latestRowSQL` or `latestRowWithoutValueSQL`
    /// and kept by the caller: the writer checks every write, and the statement cache would hash
    /// the query's text each time); the row's name is `name`, not read back.
    func latestRow(_ name: String, using statement: Statement) throws(StoreError) -> LogRow? {
        defer { statement.reset() }
        try statement.bind(1, name)
        return try statement.step() ? Self.row(statement, name: name) : nil
    }

    /// The newest row for `name` (a tombstone when the key is deleted), if any; without its value
    /// (left empty) unless `withValue`, so checks do not read large values.
    func latestRow(_ name: String, withValue: Bool = true) throws(StoreError) -> LogRow? {
        try latestRow(name, using: try statement(withValue ? Self.latestRowSQL : Self.latestRowWithoutValueSQL))
    }

    /// The compaction revision recorded in the database.
    func compactRevision() throws(StoreError) -> Int64 {
        let statement = try statement("SELECT value FROM meta WHERE key = 'compact_revision'")
        defer { statement.reset() }
        return try statement.step() ? statement.int64(0) : 0
    }

    /// The newest revision: the newest row, or the compaction revision if compaction removed it.
    func headRevision() throws(StoreError) -> Int64 {
        let statement = try statement("SELECT COALESCE(MAX(id), 0) FROM log")
        defer { statement.reset() }
        let newest = try statement.step() ? statement.int64(0) : 0
        return max(newest, try compactRevision())
    }

    /// Runs `body` inside one read transaction, so that all its queries see one snapshot.
    func readTransaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try run("BEGIN DEFERRED")
        do {
            let result = try body()
            try run("COMMIT")
            return result
        } catch {
            try? run("ROLLBACK")
            throw error
        }
    }

    /// Keys in `[start, end)` live at `revision`, ascending, at most `limit` (fetches one more to
    /// know whether more remain). The inner query walks only the `(name, prev_revision)` index —
    /// each name's row at or before `revision` that no row at or before `revision` follows, one
    /// lookup in the same index — so superseded rows cost index entries, not table reads; SQLite
    /// flattens it, so `LIMIT` stops the walk early.
    func listRows(start: [UInt8], end: [UInt8], revision: Int64, limit: Int) throws(StoreError) -> (
        rows: [LogRow], more: Bool
    ) {
        let statement = try statement(
            """
            SELECT \(Self.rowColumns.split(separator: ", ").map { "l.\($0)" }.joined(separator: ", ")) FROM (
              SELECT k.id AS id FROM log AS k INDEXED BY log_name_prev_revision
              WHERE k.name >= ?1 AND k.name < ?2 AND k.id <= ?3
                AND NOT EXISTS (
                  SELECT 1 FROM log AS m WHERE m.name = k.name AND m.prev_revision = k.id AND m.id <= ?3)
              ORDER BY k.name) AS w
            JOIN log AS l ON l.id = w.id WHERE l.deleted = 0 LIMIT ?4
            """)
        defer { statement.reset() }
        try statement.bindText(1, bytes: start)
        try statement.bindText(2, bytes: end)
        try statement.bind(3, revision)
        // One row more than asked tells whether more remain; a limit of Int.max is no limit at all.
        try statement.bind(4, limit > 0 && limit < Int.max ? Int64(limit) + 1 : -1)
        var rows: [LogRow] = []
        while try statement.step() {
            rows.append(Self.row(statement))
        }
        if limit > 0, rows.count > limit {
            rows.removeLast(rows.count - limit)
            return (rows, true)
        }
        return (rows, false)
    }

    /// Rows with a revision in `(after, through]` and a name in `[start, end)`, in revision order,
    /// at most `limit`.
    func historyRows(after: Int64, through: Int64, start: [UInt8], end: [UInt8], limit: Int) throws(StoreError)
        -> [LogRow]
    {
        let statement = try statement(
            """
            SELECT \(Self.rowColumns) FROM log
            WHERE id > ?1 AND id <= ?2 AND name >= ?3 AND name < ?4 ORDER BY id LIMIT ?5
            """)
        defer { statement.reset() }
        try statement.bind(1, after)
        try statement.bind(2, through)
        try statement.bindText(3, bytes: start)
        try statement.bindText(4, bytes: end)
        try statement.bind(5, Int64(limit))
        var rows: [LogRow] = []
        while try statement.step() {
            rows.append(Self.row(statement))
        }
        return rows
    }

    /// The current (newest, live) rows attached to `lease`: those no row follows.
    func rowsAttached(toLease lease: Int64) throws(StoreError) -> [LogRow] {
        let statement = try statement(
            """
            SELECT \(Self.rowColumns) FROM log AS l
            WHERE l.lease = ?1 AND l.lease != 0 AND l.deleted = 0
              AND NOT EXISTS (SELECT 1 FROM log AS m WHERE m.name = l.name AND m.prev_revision = l.id)
            ORDER BY l.id
            """)
        defer { statement.reset() }
        try statement.bind(1, lease)
        var rows: [LogRow] = []
        while try statement.step() {
            rows.append(Self.row(statement))
        }
        return rows
    }
}
