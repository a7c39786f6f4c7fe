/// Command-line options: `[--seconds N] [--rounds N]`.
struct Options {
    /// Measuring time of one case in one round, in seconds.
    var seconds = 0.5
    var rounds = 5

    static let usage = """
        usage: bench-wire [--seconds N] [--rounds N]
          --seconds N  time per case per round, 0.01...60 (default 0.5); warm-up is 0.4 of it
          --rounds N   rounds per case, 1...99 (default 5); the median round is reported
        """

    init(_ arguments: [String]) throws(UsageError) {
        var rest = arguments[...]
        while let flag = rest.popFirst() {
            switch flag {
                case "--seconds":
                    guard let v = rest.popFirst().flatMap(Double.init), (0.01...60).contains(v) else {
                        throw UsageError(message: "--seconds needs a number from 0.01 to 60")
                    }
                    seconds = v
                case "--rounds":
                    guard let v = rest.popFirst().flatMap({ Int($0) }), (1...99).contains(v) else {
                        throw UsageError(message: "--rounds needs a whole number from 1 to 99")
                    }
                    rounds = v
                case "-h", "--help":
                    throw UsageError(message: nil)
                default:
                    throw UsageError(message: "unknown argument \(flag)")
            }
        }
    }

    var schedule: Schedule {
        var s = Schedule()
        s.rounds = rounds
        s.roundTime = .nanoseconds(Int64(seconds * 1e9))
        s.warmUpTime = .nanoseconds(Int64(seconds * 0.4e9))
        return s
    }
}

struct UsageError: Error {
    /// Nil when help was asked for.
    var message: String?
}
