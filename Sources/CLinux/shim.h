#ifndef CLINUX_SHIM_H
#define CLINUX_SHIM_H
// Linux interfaces the Glibc module does not bring into Swift: epoll, eventfd, thread names.
// Used only by CapstanHTTP2's Socket/ files and CapstanStore's System/Threads.swift. (Headers
// Glibc already covers are not included here: a second copy of their definitions in this module
// would clash with SwiftGlibc's.)
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <netinet/tcp.h>
#include <malloc.h>

/// Names the calling thread (at most 15 bytes are kept).
static inline int CLinux_set_thread_name(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}

/// Keeps glibc's allocator from handing heap memory back to the kernel after every burst of
/// frees: `top_pad` bytes of slack are kept when a heap grows, and a heap is trimmed only when
/// `trim_threshold` bytes are free at its top. Returns 0 if either setting was refused.
static inline int CLinux_malloc_keep_heap(int top_pad, int trim_threshold, int max_fast) {
    return mallopt(M_TOP_PAD, top_pad) && mallopt(M_TRIM_THRESHOLD, trim_threshold) && mallopt(M_MXFAST, max_fast);
}

#endif
