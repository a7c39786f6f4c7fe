/// Where an event loop reports a turn that kept it from its sockets for `threshold` or more: the
/// work of one turn (its I/O callbacks, timers and jobs) ran that long, so every connection on
/// the loop waited as long, however quickly its own calls were answered once they ran. A
/// server's own latency figures start when a call's handler runs and cannot show such waits.
public struct StallReport: Sendable {
    public var threshold: Duration
    /// Called on the loop's thread with the loop's name and how long the turn took: keep it short.
    public var report: @Sendable (_ loop: String, _ busy: Duration) -> Void

    public init(threshold: Duration, report: @escaping @Sendable (_ loop: String, _ busy: Duration) -> Void) {
        self.threshold = threshold
        self.report = report
    }
}
