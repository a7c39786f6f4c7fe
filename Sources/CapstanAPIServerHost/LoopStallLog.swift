import CapstanHTTP2
import Logging
import Synchronization

/// Logs event-loop turns that kept a loop from its connections for `threshold` or more (see
/// `StallReport`): at once for the first of a loop, then at most one line per loop every
/// `interval`, with how many such turns there were since its last line and the longest (stalls
/// after a line are told with the next stall after the interval). A stall is time every client
/// of that loop waited that the request logs, which time each call from when its handler runs,
/// do not show.
final class LoopStallLog: Sendable {
    private struct Pending {
        var lastLine: ContinuousClock.Instant?
        var count = 0
        var longest: Duration = .zero
    }

    private let logger: Logger
    private let interval: Duration
    private let threshold: Duration
    private let pending = Mutex<[String: Pending]>([:])

    init(
        threshold: Duration = .milliseconds(100), interval: Duration = .seconds(10),
        logger: Logger = Logger(label: "capstan.apiserver")
    ) {
        self.logger = logger
        self.threshold = threshold
        self.interval = interval
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    var stallReport: StallReport {
        StallReport(threshold: threshold) { [self] loop, busy in note(loop: loop, busy: busy) }
    }

    func note(loop: String, busy: Duration, now: ContinuousClock.Instant = .now) {
        let line: (count: Int, longest: Duration)? = pending.withLock { pending in
            var entry = pending[loop, default: Pending()]
            entry.count += 1
            entry.longest = max(entry.longest, busy)
            defer { pending[loop] = entry }
            if let last = entry.lastLine, last.duration(to: now) < interval { return nil }
            defer {
                entry.lastLine = now
                entry.count = 0
                entry.longest = .zero
            }
            return (entry.count, entry.longest)
        }
        guard let line else { return }
        logger.warning(
            "an event loop went without looking at its connections (busy, or the process was stopped or short of CPU); calls on them waited as long",
            metadata: [
                "loop": "\(loop)", "stalls": "\(line.count)",
                "longest_ms": "\(Self.milliseconds(line.longest))", "threshold_ms": "\(Self.milliseconds(threshold))",
            ])
    }
}
