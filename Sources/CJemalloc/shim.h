#ifndef CJEMALLOC_SHIM_H
#define CJEMALLOC_SHIM_H
#include <jemalloc/jemalloc.h>
#include <stdint.h>
#include <stdlib.h>

/// jemalloc's version string ("5.3.0-0-g…"), or NULL.
static inline const char *CJemalloc_version(void) {
    const char *version = NULL;
    size_t size = sizeof(version);
    return mallctl("version", &version, &size, NULL, 0) == 0 ? version : NULL;
}

/// Bytes this thread has allocated through jemalloc so far (-1 when jemalloc keeps no count).
static inline int64_t CJemalloc_thread_allocated(void) {
    uint64_t allocated = 0;
    size_t size = sizeof(allocated);
    return mallctl("thread.allocated", &allocated, &size, NULL, 0) == 0 ? (int64_t)allocated : -1;
}

/// Whether the process's `malloc` is jemalloc's: a block from `malloc` shows in jemalloc's count.
/// (Linked as a library, jemalloc replaces glibc's malloc only if it comes first in symbol
/// lookup, which a linker dropping it as unneeded or a preloaded allocator would prevent.)
static inline int CJemalloc_serves_malloc(void) {
    int64_t before = CJemalloc_thread_allocated();
    if (before < 0) return 0;
    void *volatile block = malloc(4096);
    int64_t after = CJemalloc_thread_allocated();
    free(block);
    return after - before >= 4096;
}
/// Turns on jemalloc's background threads, which return freed memory to the system after its
/// decay time even while the process is idle (without them, purging happens only on allocation
/// paths, so an idle server keeps its burst peak). Returns 0 on success.
static inline int CJemalloc_enable_background_threads(void) {
    _Bool enable = 1;
    return mallctl("background_thread", NULL, NULL, &enable, sizeof(enable));
}
#endif
