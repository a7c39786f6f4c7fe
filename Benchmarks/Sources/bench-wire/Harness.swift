/// Takes a value the optimiser must assume is used, so the work that produced it is not dropped.
@inline(never) @_optimize(none)
func blackHole<T>(_ value: T) {}

/// One measured operation: `run(n)` performs it `n` times.
struct BenchCase {
    var name: String
    /// Bytes the operation reads or writes (the encoded Pod).
    var encodedSize: Int
    var run: (Int) throws -> Void
}

/// How long and how often every case is measured.
struct Schedule {
    var rounds = 5
    var roundTime: Duration = .milliseconds(500)
    var warmUpTime: Duration = .milliseconds(200)
    /// Upper bound on operations in one round or warm-up, whatever the clock says.
    var maxOpsPerRound = 20_000_000
    /// Operations between two clock reads.
    var batch = 32
}

/// The rounds of one case, as operations per second.
struct Measurement {
    var benchCase: BenchCase
    var opsPerSecond: [Double]

    var median: Double {
        let sorted = opsPerSecond.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// (max - min) / median over the rounds: how noisy the run was.
    var spread: Double {
        guard let lo = opsPerSecond.min(), let hi = opsPerSecond.max(), median > 0 else { return 0 }
        return (hi - lo) / median
    }
}

/// Runs `body` in batches until `budget` has passed or `maxOps` operations are done; returns ops/s.
func timeRound(_ body: (Int) throws -> Void, budget: Duration, maxOps: Int, batch: Int) rethrows -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    var ops = 0
    var elapsed = Duration.zero
    repeat {
        try body(batch)
        ops += batch
        elapsed = start.duration(to: clock.now)
    } while elapsed < budget && ops < maxOps
    let (seconds, attoseconds) = elapsed.components
    return Double(ops) / (Double(seconds) + Double(attoseconds) * 1e-18)
}

/// Warms every case up, then measures them round by round, interleaved: each round runs every case
/// once, starting one case later than the previous round, so slow drift of a noisy machine
/// (frequency, neighbours) falls on all cases alike rather than on whichever ran last.
func measure(_ cases: [BenchCase], _ schedule: Schedule) throws -> [Measurement] {
    for c in cases {
        _ = try timeRound(c.run, budget: schedule.warmUpTime, maxOps: schedule.maxOpsPerRound, batch: schedule.batch)
    }
    var results = cases.map { Measurement(benchCase: $0, opsPerSecond: []) }
    for round in 0..<schedule.rounds {
        for k in cases.indices {
            let i = (round + k) % cases.count
            let rate = try timeRound(
                cases[i].run, budget: schedule.roundTime, maxOps: schedule.maxOpsPerRound, batch: schedule.batch)
            results[i].opsPerSecond.append(rate)
        }
    }
    return results
}
