import CapctlKit
import Testing

/// Flags checked before anything is sent: durations in seconds.
@Suite struct CapctlFlagValidationTests {
    /// Runs capctl without a config file against a port nothing listens on.
    static func run(_ arguments: [String]) async -> CapturedConsole {
        let console = CapturedConsole(environment: ["CAPSTAN_CONFIG": "/nonexistent/capctl-config"])
        let code = await Capctl.run(arguments: arguments + ["--server", "127.0.0.1:1"], console: console.console)
        #expect(code == 1, "capctl \(arguments.joined(separator: " ")): \(console.err)")
        return console
    }

    /// Huge, infinite and NaN values once trapped converting to milliseconds; below 1 ms made a
    /// 0 ms deadline. Each is a usage error naming its flag, before any connection.
    @Test(.timeLimit(.minutes(1)), arguments: [
        (["get", "pods", "--timeout", "1e16"], "--timeout"),
        (["get", "pods", "--timeout", "nan"], "--timeout"),
        (["get", "pods", "--timeout", "0.0004"], "--timeout"),
        (["get", "pods", "--timeout=-1"], "--timeout"),
        (["get", "pods", "-w", "--watch-seconds", "1e300", "--timeout", "2"], "--watch-seconds"),
        (["resize", "web", "2", "--wait-timeout", "1e300", "--timeout", "2"], "--wait-timeout"),
        (["stop", "web", "--wait-timeout", "inf", "--timeout", "2"], "--wait-timeout"),
        (["stop", "web", "--wait-timeout", "0", "--timeout", "2"], "--wait-timeout"),
        // An option's negative value is that option's error, not a negative count.
        (["resize", "web", "3", "--wait-timeout", "-5", "--timeout", "2"], "--wait-timeout"),
    ])
    func durationsOutOfRangeAreUsageErrors(arguments: [String], flag: String) async {
        let console = await Self.run(arguments)
        #expect(console.err.contains("\(flag) must be a number of seconds from 0.001 to 1000000"), "\(console.err)")
        #expect(!console.err.contains("UNAVAILABLE"), "refused before connecting: \(console.err)")
    }

    /// `resize web -3` said a count was missing (the parser took `-3` for an option).
    @Test(.timeLimit(.minutes(1)), arguments: [["resize", "web", "-3"], ["resize", "-3", "web"], ["resize", "web", "-3", "--no-wait"]])
    func negativeResizeCount(arguments: [String]) async {
        let console = await Self.run(arguments)
        #expect(console.err.contains("the replica count must be 0 or more, not -3"), "\(console.err)")
    }
}
