public import Logging
import Synchronization

/// Bounds the request-log lines a server writes per second, so a flood of failing calls (a
/// client resetting thousands of calls, a store outage failing every read, clients refused for
/// not reading their responses) cannot fill the disk or bury the lines that matter.
///
/// Windows of one second: the first `linesPerSecond` lines of a window are written, later ones
/// are dropped and counted by status code. One second after the first line dropped, one line
/// ("rpc log lines dropped") gives the count since the last such line, in all and by code
/// (`rpc.dropped`, `rpc.dropped_by_code`), at `warning`, or at `error` when a dropped line was
/// an error's, so it passes wherever the lines it stands for would have.
public final class RequestLogLimiter: Sendable {
    /// Lines written per one-second window at most.
    public let linesPerSecond: Int
    private let logger: Logger

    private struct Window {
        var start: ContinuousClock.Instant
        var written = 0
        /// Lines dropped since the last summary, by code.
        var dropped: [RPCCode: Int] = [:]
        var summaryDue = false
    }

    private let window: Mutex<Window>

    /// `logger` takes the summaries (the request logger).
    public init(linesPerSecond: Int, logger: Logger) {
        precondition(linesPerSecond > 0, "a request-log limit admits at least one line per second")
        self.linesPerSecond = linesPerSecond
        self.logger = logger
        window = Mutex(Window(start: .now))
    }

    /// Whether a line for a call that ended with `code` may be written now; if not, it is counted
    /// for the next summary.
    public func admit(_ code: RPCCode) -> Bool {
        let now = ContinuousClock.now
        let scheduleSummary: Bool? = window.withLock { window in
            if window.start.duration(to: now) >= .seconds(1) {
                window.start = now
                window.written = 0
            }
            if window.written < linesPerSecond {
                window.written += 1
                return nil
            }
            window.dropped[code, default: 0] += 1
            guard !window.summaryDue else { return false }
            window.summaryDue = true
            return true
        }
        guard let scheduleSummary else { return true }
        if scheduleSummary {
            Task { [self] in
                try? await Task.sleep(for: .seconds(1))
                summarize()
            }
        }
        return false
    }

    /// Writes the summary of the lines dropped since the last one.
    private func summarize() {
        let dropped = window.withLock { window in
            window.summaryDue = false
            defer { window.dropped = [:] }
            return window.dropped
        }
        guard !dropped.isEmpty else { return }
        let byCode = dropped.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key.rawValue < $1.key.rawValue }
            .map { "\($0.key.description)=\($0.value)" }.joined(separator: ",")
        let level: Logger.Level = dropped.keys.contains { RequestLogInterceptor.level(for: $0) == .error } ? .error : .warning
        logger.log(level: level, "rpc log lines dropped", metadata: [
            "rpc.dropped": .stringConvertible(LogNumber(dropped.values.reduce(0, +))),
            "rpc.dropped_by_code": .string(byCode),
            "rpc.log_limit_per_second": .stringConvertible(LogNumber(linesPerSecond)),
        ])
    }
}
