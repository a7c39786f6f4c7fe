// A thin wrapper around SQLite's default page cache (pcache1).
//
// Why: when B-tree balancing puts the new sibling pages in ascending order it swaps two pages'
// numbers through a temporary one, the number of the pending-byte page (262,145 with 4 KiB pages),
// which no database page below 1 GiB ever uses. pcache1 remembers the largest key it ever held
// (`iMaxKey`), and at the end of the transaction the pager truncates the cache to the database's
// size. With the remembered key far past that size, pcache1 walks every hash bucket and every
// cached page instead of the few buckets above the size: a walk of the whole cache (thousands of
// pages, each a cache miss) at the end of every transaction whose balancing swapped two pages.
//
// How: the wrapper files a page that is at the temporary number under key 0 instead, a key the
// pager never uses (page numbers start at 1), so pcache1's largest key stays at the database's
// size. Every other call is passed through unchanged. The swap moves the page to the temporary
// number and off it again with nothing in between that truncates the cache; should a truncation
// that ought to drop such a page ever come, the page is moved back to its real number first, so
// pcache1 drops it exactly as it would have.
#include "CSQLitePageCache.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>

/// The byte offset SQLite reserves for its file locks; the page holding it is never a data page.
#define PENDING_BYTE_OFFSET 0x40000000u

typedef struct {
    sqlite3_pcache *inner;
    /// The pending-byte page's number for this cache's page size: the balance's temporary number.
    unsigned temporary;
} WrappedCache;

static sqlite3_pcache_methods2 inner_methods;
static int install_result = SQLITE_ERROR;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static atomic_ullong redirected_moves;

static unsigned physical(const WrappedCache *cache, unsigned key) {
    return key == cache->temporary ? 0 : key;
}

static int wrapped_init(void *arg) { return inner_methods.xInit ? inner_methods.xInit(arg) : SQLITE_OK; }

static void wrapped_shutdown(void *arg) {
    if (inner_methods.xShutdown) inner_methods.xShutdown(arg);
}

static sqlite3_pcache *wrapped_create(int page_size, int extra_size, int purgeable) {
    WrappedCache *cache = malloc(sizeof *cache);
    if (cache == NULL) return NULL;
    cache->inner = inner_methods.xCreate(page_size, extra_size, purgeable);
    if (cache->inner == NULL) {
        free(cache);
        return NULL;
    }
    cache->temporary = PENDING_BYTE_OFFSET / (unsigned)page_size + 1;
    return (sqlite3_pcache *)cache;
}

static void wrapped_cachesize(sqlite3_pcache *handle, int pages) {
    inner_methods.xCachesize(((WrappedCache *)handle)->inner, pages);
}

static int wrapped_pagecount(sqlite3_pcache *handle) {
    return inner_methods.xPagecount(((WrappedCache *)handle)->inner);
}

static sqlite3_pcache_page *wrapped_fetch(sqlite3_pcache *handle, unsigned key, int create) {
    WrappedCache *cache = (WrappedCache *)handle;
    return inner_methods.xFetch(cache->inner, physical(cache, key), create);
}

static void wrapped_unpin(sqlite3_pcache *handle, sqlite3_pcache_page *page, int discard) {
    inner_methods.xUnpin(((WrappedCache *)handle)->inner, page, discard);
}

static void wrapped_rekey(sqlite3_pcache *handle, sqlite3_pcache_page *page, unsigned old_key, unsigned new_key) {
    WrappedCache *cache = (WrappedCache *)handle;
    if (new_key == cache->temporary) atomic_fetch_add_explicit(&redirected_moves, 1, memory_order_relaxed);
    inner_methods.xRekey(cache->inner, page, physical(cache, old_key), physical(cache, new_key));
}

static void wrapped_truncate(sqlite3_pcache *handle, unsigned limit) {
    WrappedCache *cache = (WrappedCache *)handle;
    if (limit <= cache->temporary) {
        // A page left at the temporary number (never, by SQLite's balance) is filed under 0, which
        // the truncation below would not reach: give it its real number so it is dropped.
        sqlite3_pcache_page *stranded = inner_methods.xFetch(cache->inner, 0, 0);
        if (stranded != NULL) inner_methods.xRekey(cache->inner, stranded, 0, cache->temporary);
    }
    inner_methods.xTruncate(cache->inner, limit);
}

static void wrapped_destroy(sqlite3_pcache *handle) {
    WrappedCache *cache = (WrappedCache *)handle;
    inner_methods.xDestroy(cache->inner);
    free(cache);
}

static void wrapped_shrink(sqlite3_pcache *handle) {
    if (inner_methods.xShrink) inner_methods.xShrink(((WrappedCache *)handle)->inner);
}

static void install(void) {
    sqlite3_pcache_methods2 defaults;
    int result = sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &defaults);
    if (result != SQLITE_OK) {
        install_result = result;
        return;
    }
    if (defaults.iVersion < 1 || defaults.xCreate == NULL || defaults.xFetch == NULL || defaults.xRekey == NULL) {
        install_result = SQLITE_ERROR;
        return;
    }
    inner_methods = defaults;
    sqlite3_pcache_methods2 wrapped = {
        .iVersion = 1,
        .pArg = defaults.pArg,
        .xInit = wrapped_init,
        .xShutdown = wrapped_shutdown,
        .xCreate = wrapped_create,
        .xCachesize = wrapped_cachesize,
        .xPagecount = wrapped_pagecount,
        .xFetch = wrapped_fetch,
        .xUnpin = wrapped_unpin,
        .xRekey = wrapped_rekey,
        .xTruncate = wrapped_truncate,
        .xDestroy = wrapped_destroy,
        .xShrink = wrapped_shrink,
    };
    install_result = sqlite3_config(SQLITE_CONFIG_PCACHE2, &wrapped);
}

int CSQLitePageCache_install(void) {
    pthread_once(&install_once, install);
    return install_result;
}

unsigned long long CSQLitePageCache_redirectedMoves(void) {
    return atomic_load_explicit(&redirected_moves, memory_order_relaxed);
}
