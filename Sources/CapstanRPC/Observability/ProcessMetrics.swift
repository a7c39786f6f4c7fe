#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The process's own state under the names Prometheus' client libraries use
/// (`process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_open_fds`, …), so
/// the usual dashboards and alerts work, read from `/proc/self` on each collection (Linux).
/// Families it cannot read are left out.
public enum ProcessMetrics {
    /// The collector to pass to `RPCMetrics.addCollector`.
    public static let collector: @Sendable () -> [MetricFamily] = { families() }

    /// The families as they are now.
    public static func families() -> [MetricFamily] {
        var out: [MetricFamily] = []
        if let stat = stat(of: getpid()) {
            let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
            let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
            if ticks > 0 {
                out.append(MetricFamily(
                    "process_cpu_seconds_total", .counter, help: "User and system CPU time spent, in seconds.",
                    value: Double(stat.userTicks + stat.systemTicks) / ticks))
                if let boot = bootTime {
                    out.append(MetricFamily(
                        "process_start_time_seconds", .gauge,
                        help: "Start time of the process since the Unix epoch, in seconds.",
                        value: Double(boot) + Double(stat.startTicks) / ticks))
                }
            }
            out.append(MetricFamily(
                "process_resident_memory_bytes", .gauge, help: "Resident memory size, in bytes.",
                value: Double(stat.residentPages) * pageSize))
            out.append(MetricFamily(
                "process_virtual_memory_bytes", .gauge, help: "Virtual memory size, in bytes.",
                value: Double(stat.virtualBytes)))
            out.append(MetricFamily(
                "process_threads", .gauge, help: "Threads of the process.", value: Double(stat.threads)))
        }
        if let open = openDescriptors() {
            out.append(MetricFamily("process_open_fds", .gauge, help: "Open file descriptors.", value: Double(open)))
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max {
            out.append(MetricFamily(
                "process_max_fds", .gauge, help: "Most open file descriptors allowed (the soft limit).",
                value: Double(limit.rlim_cur)))
        }
        return out
    }

    /// The fields of `/proc/PID/stat` used here.
    public struct Stat: Equatable, Sendable {
        public var parentPID: Int32
        public var userTicks: UInt64
        public var systemTicks: UInt64
        public var threads: UInt64
        public var startTicks: UInt64
        public var virtualBytes: UInt64
        public var residentPages: UInt64
    }

    /// Process `pid`'s `/proc/PID/stat`, or nil when it is gone or cannot be read.
    public static func stat(of pid: Int32) -> Stat? {
        readText("/proc/\(pid)/stat", limit: 4096).flatMap(parseStat)
    }

    /// User plus system CPU time of process `pid` so far.
    public static func cpuTime(of pid: Int32) -> Duration? {
        guard let stat = stat(of: pid) else { return nil }
        let ticks = UInt64(max(1, sysconf(Int32(_SC_CLK_TCK))))
        return .microseconds(Int64((stat.userTicks + stat.systemTicks) * 1_000_000 / ticks))
    }

    /// Parses `/proc/PID/stat`: after the command in parentheses (which may itself hold spaces
    /// and parentheses, hence the last `)`), fields 3 onwards, separated by spaces.
    static func parseStat(_ text: String) -> Stat? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state): field N is fields[N - 3].
        func field(_ number: Int) -> UInt64? {
            let index = number - 3
            return index < fields.count ? UInt64(fields[index].filter { $0 != "\n" }) : nil
        }
        guard let parent = field(4).flatMap(Int32.init(exactly:)), let user = field(14), let system = field(15),
            let threads = field(20), let start = field(22), let virtual = field(23), let resident = field(24)
        else { return nil }
        return Stat(
            parentPID: parent, userTicks: user, systemTicks: system, threads: threads, startTicks: start, virtualBytes: virtual,
            residentPages: resident)
    }

    /// `btime` of `/proc/stat`: when the system booted, in seconds since the epoch.
    static func parseBootTime(_ text: String) -> UInt64? {
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return UInt64(line.dropFirst("btime ".count))
        }
        return nil
    }

    /// Read once: it does not change while the system runs.
    private static let bootTime: UInt64? = readText("/proc/stat", limit: 1 << 20).flatMap(parseBootTime)

    /// Entries of `/proc/self/fd`, less the one this count opens.
    private static func openDescriptors() -> Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { $0.first }
            if name != UInt8(ascii: ".") { count += 1 }
        }
        return max(0, count - 1)
    }

    /// The file's first `limit` bytes as text (files in /proc report size 0, so read to the end).
    private static func readText(_ path: String, limit: Int) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < limit {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk.prefix(count)
        }
        return String(decoding: bytes.prefix(limit), as: UTF8.self)
    }
}
