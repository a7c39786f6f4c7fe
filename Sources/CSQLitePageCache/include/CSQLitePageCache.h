#ifndef CSQLITE_PAGE_CACHE_H
#define CSQLITE_PAGE_CACHE_H
// SQLite's own page cache (pcache1), wrapped so that B-tree balancing does not make every later
// commit walk the whole cache. See PageCache.c for why and how.

/// Installs the wrapper as SQLite's page cache, once per process. Must run before SQLite is
/// initialized (the first connection opened or VFS registered): returns SQLITE_OK when the wrapper
/// is in place (now or from an earlier call), else SQLite's error (SQLITE_MISUSE once SQLite is
/// initialized), and SQLite keeps its default cache.
int CSQLitePageCache_install(void);

/// How many page moves through the temporary page number the wrapper has redirected so far.
unsigned long long CSQLitePageCache_redirectedMoves(void);

#endif
