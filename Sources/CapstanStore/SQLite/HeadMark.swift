/// A revision the embedded store has made durable, kept outside its database and WAL
/// (`store.db-head`), so that an open that finds the store behind it refuses to start instead
/// of serving silently without commits it had acknowledged.
///
/// SQLite reads a WAL up to its first frame that does not check out, so a WAL that was deleted,
/// truncated or damaged (a process kill never does this) loses every commit from there on
/// without an error, and the revisions those commits had are handed out again. The background
/// checkpointer writes the mark at most once a second from the writer's last committed revision
/// (committed means synced: never a revision that was not durable), to a temporary file that it
/// syncs and renames over the mark; the rename is not synced, so after a crash the mark may be
/// the one before, never ahead of the store. A mark that cannot be read or parsed is ignored.
enum HeadMark {
    /// The mark's file beside the database at `path`.
    static func path(database: String) -> String { database + "-head" }

    /// The revision the mark holds, if it exists and reads as one.
    static func read(database: String) -> Int64? {
        guard let bytes = readSmallFile(path(database: database), limit: 32) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.hasSuffix("\n"), let revision = Int64(text.dropLast()), revision > 0 else { return nil }
        return revision
    }

    /// Writes `revision` as the mark (see the type's documentation).
    static func write(_ revision: Int64, database: String) throws(SystemCallError) {
        try replaceFileSynced(path(database: database), with: Array("\(revision)\n".utf8))
    }

    /// Throws when the store's `head` on open is behind the mark: commits it had made durable are gone.
    static func check(head: Int64, database: String) throws(StoreError) {
        guard let mark = read(database: database), head < mark else { return }
        throw .unavailable(
            reason: "the store \(database) reaches revision \(head), but it had made revision \(mark) durable "
                + "(\(path(database: database))): its WAL (\(database)-wal) lost commits (deleted, truncated or damaged?). "
                + "Restore it from a backup (capstan restore), or, to go on with what is left and hand its revisions "
                + "out again, remove \(path(database: database))")
    }
}
