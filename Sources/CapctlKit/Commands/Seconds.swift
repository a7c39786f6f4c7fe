/// Durations given in seconds on the command line (`--timeout`, `--wait-timeout`).
enum Seconds {
    /// The longest duration a flag accepts: about 11.6 days.
    static let maximum: Double = 1_000_000

    /// `seconds` as a duration, or a usage error naming `flag` when it is not finite, below one
    /// millisecond (a 0 ms deadline would fail every call) or above `maximum`.
    static func duration(_ seconds: Double, flag: String) throws(CapctlError) -> Duration {
        guard seconds.isFinite, seconds >= 0.001, seconds <= maximum else {
            throw .usage("\(flag) must be a number of seconds from 0.001 to \(Int(maximum)), got \(seconds)")
        }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }
}
