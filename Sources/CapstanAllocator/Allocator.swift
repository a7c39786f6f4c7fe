internal import CJemalloc

/// The memory allocator of Capstan's daemons: jemalloc (Debian's `libjemalloc2`), linked into the
/// executables in place of glibc's malloc. Libraries and tests do not link it.
///
/// Why: a busy server allocates and frees many blocks of just over 1 KiB (watch events, pods, the
/// messages a client reads). glibc serves those from its sorted bins, without a per-thread cache,
/// and its heap fragments after large responses (lists of 10,000 pods); jemalloc keeps them in
/// per-thread size classes. Measured in `make bench-api` (Benchmarks/README.md).
public enum Allocator {
    /// jemalloc's version, or nil when it cannot be asked.
    public static var version: String? {
        CJemalloc_version().map { String(cString: $0) }
    }

    /// Whether `malloc` in this process is jemalloc's (false if something replaced it first).
    public static var servesMalloc: Bool {
        CJemalloc_serves_malloc() != 0
    }

    /// Starts jemalloc's background purging: freed memory goes back to the system about ten
    /// seconds after a burst (jemalloc's decay time), also while the daemon is idle. Without it
    /// an idle server kept its burst peak (a soak test: 145 MB of RSS after watch churn against
    /// 46 MB at start, until load came back). Returns whether jemalloc agreed.
    @discardableResult
    public static func startBackgroundPurging() -> Bool {
        servesMalloc && CJemalloc_enable_background_threads() == 0
    }

    /// One line for a start-up banner: "jemalloc 5.3.0", or what went wrong.
    public static var summary: String {
        guard let version else { return "glibc malloc (jemalloc did not answer)" }
        let release = version.split(separator: "-").first.map(String.init) ?? version
        return servesMalloc ? "jemalloc \(release)" : "glibc malloc (jemalloc \(release) linked, not serving malloc)"
    }
}
