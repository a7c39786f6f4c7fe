internal import CSQLite
internal import CSQLitePageCache

/// SQLite's page cache for every store in the process: SQLite's own, wrapped so that B-tree
/// balancing does not make each later commit walk the whole cache (see CSQLitePageCache). It must
/// be configured before SQLite initializes, so the first VFS registration and every connection
/// ask for it first.
enum PageCache {
    /// Whether the wrapper is in place. False when SQLite was initialized before the first store
    /// opened (by other code in the process): SQLite then keeps its default cache, which is
    /// correct, only slower.
    static let installed: Bool = CSQLitePageCache_install() == SQLITE_OK

    /// Page moves through the balance's temporary page number redirected so far, in the process.
    static var redirectedMoves: UInt64 { UInt64(CSQLitePageCache_redirectedMoves()) }
}
