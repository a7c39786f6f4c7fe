#ifndef CLINUX_SHIM_H
#define CLINUX_SHIM_H
// Linux interfaces the Glibc module does not bring into Swift: epoll, eventfd, thread names.
// Used only by CapstanHTTP2's Socket/ files. (Headers Glibc already covers are not included
// here: a second copy of their definitions in this module would clash with SwiftGlibc's.)
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <netinet/tcp.h>

/// Names the calling thread (at most 15 bytes are kept).
static inline int CLinux_set_thread_name(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}

#endif
