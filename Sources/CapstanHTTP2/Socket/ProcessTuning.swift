internal import CLinux

/// Process-wide settings for a server process. Call once, early, from an executable's `main`
/// (a library must not change them behind its host's back).
public enum ProcessTuning {
    /// Keeps glibc's allocator from returning heap memory to the kernel after every burst of calls.
    ///
    /// Each loop thread allocates and frees a batch of stream objects per read; with glibc's
    /// defaults its heap grows and shrinks with every batch, and every change is an `mprotect` or
    /// `madvise` (a TLB shootdown on every core). Measured on the echo server under h2load: about
    /// one such call per seven requests, and 20–25% of the server's CPU per request. The cost is up to
    /// `topPad` of retained memory per allocator arena.
    ///
    /// It also raises glibc's fast-bin limit to its maximum (`maxFast`, 160 bytes): a loop frees a
    /// whole read's worth of calls at once, more blocks of one size than glibc's per-thread cache
    /// holds (7), and blocks up to that size then go to the fast bins (a push and a pop) rather than
    /// through the sorted bins. Returns whether glibc accepted the settings.
    @discardableResult
    public static func keepAllocatorHeap(
        topPad: Int = 64 * 1024 * 1024, trimThreshold: Int = 256 * 1024 * 1024, maxFast: Int = 160
    ) -> Bool {
        CLinux_malloc_keep_heap(Int32(clamping: topPad), Int32(clamping: trimThreshold), Int32(clamping: maxFast)) != 0
    }
}
