/// The database layout, version 2.
///
/// `log` has one row per revision (kine's shape). `created` marks the row that created a key,
/// `deleted` a tombstone (whose `value` keeps the deleted value, for delete events); `prev_revision`
/// is the key's previous row (0 for none), so compaction can drop superseded rows by primary key.
/// The unique `(name, prev_revision)` index makes a lost update impossible even if a check were
/// wrong: two writes can never both follow the same row. It is also the only index by name: along
/// one name's rows `prev_revision` grows with `id` (each row follows the newest before it), so the
/// newest row is the last in the index, and a row is the newest at revision R exactly when no row
/// up to R follows it (`LogQueries`). `meta` holds the compaction revision; `leases` the granted
/// leases (their countdown restarts when the store opens, as etcd's does).
///
/// Version 1 also had an index on `(name, id)`; every write paid for both in B-tree pages, about
/// half of the bytes each commit wrote. Opening a version-1 database drops it (`migrate`).
enum Schema {
    static let version: Int64 = 2

    static let create = """
        CREATE TABLE IF NOT EXISTS log (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            created INTEGER NOT NULL,
            deleted INTEGER NOT NULL,
            create_revision INTEGER NOT NULL,
            prev_revision INTEGER NOT NULL,
            lease INTEGER NOT NULL,
            value BLOB NOT NULL
        );
        CREATE UNIQUE INDEX IF NOT EXISTS log_name_prev_revision ON log (name, prev_revision);
        CREATE INDEX IF NOT EXISTS log_lease ON log (lease) WHERE lease != 0;
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT OR IGNORE INTO meta (key, value) VALUES ('compact_revision', 0);
        CREATE TABLE IF NOT EXISTS leases (id INTEGER PRIMARY KEY, ttl_ms INTEGER NOT NULL);
        """

    /// Brings an older layout to this one (run after `create`, in the same transaction).
    static let migrate = """
        DROP INDEX IF EXISTS log_name_id;
        """

    /// Settings for every connection (`Connection` sets the busy timeout when it opens).
    /// `synchronous=FULL` in WAL mode syncs the WAL on every commit, so an acknowledged write
    /// survives power loss.
    static let connectionPragmas = """
        PRAGMA synchronous = FULL;
        PRAGMA temp_store = MEMORY;
        PRAGMA cache_size = -16000;
        """
}

/// One `log` row.
struct LogRow: Sendable {
    var revision: Int64
    var name: String
    var created: Bool
    var deleted: Bool
    var createRevision: Int64
    var prevRevision: Int64
    var lease: Int64
    var value: [UInt8]

    /// The key's state this row establishes (meaningful when not a tombstone).
    var keyValue: KeyValue {
        KeyValue(key: name, value: value, createRevision: createRevision, modRevision: revision, lease: lease)
    }

    /// The watch event this row reports.
    var event: WatchEvent {
        if deleted {
            return WatchEvent(
                kind: .delete,
                entry: KeyValue(
                    key: name, value: [], createRevision: createRevision, modRevision: revision, lease: lease),
                prevValue: value)
        }
        return WatchEvent(kind: .put, entry: keyValue)
    }
}

/// Byte-wise key range helpers (SQLite compares TEXT with memcmp under the BINARY collation).
enum KeyRange {
    /// The smallest string after every string starting with `prefix`; for "" a bound above every
    /// UTF-8 string (0xFF never occurs in UTF-8).
    static func end(ofPrefix prefix: String) -> [UInt8] {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last {
            if last < 0xff {
                bytes[bytes.count - 1] = last + 1
                return bytes
            }
            bytes.removeLast()
        }
        return [0xff]
    }

    /// The inclusive lower bound for keys under `prefix` and after `after`.
    static func start(prefix: String, after: String?) -> [UInt8] {
        let floor = Array(prefix.utf8)
        guard let after else { return floor }
        let next = Array(after.utf8) + [0]
        return next.lexicographicallyPrecedes(floor) ? floor : next
    }
}
