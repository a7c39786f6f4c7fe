// Load loops shared by the benchmarks (`bench-store`, `bench-api`): a fixed number of workers
// calling an operation until a time limit, and rounds in which several operations alternate.
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

extension Duration {
    /// The duration in seconds, as a floating-point number.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

/// A rate, and this process's CPU time per operation (the client's cost, which the server does not share).
public struct Measured: Sendable {
    public var rate = 0.0
    public var cpuPerOperation = Duration.zero

    public init(rate: Double = 0, cpuPerOperation: Duration = .zero) {
        self.rate = rate
        self.cpuPerOperation = cpuPerOperation
    }

    /// "(client CPU N µs/op)".
    public var cpuText: String {
        String(format: "(client CPU %.0f µs/op)", cpuPerOperation.seconds * 1e6)
    }
}

/// This process's user + system CPU time so far.
public func processCPU() -> Duration {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let micros = (Int64(usage.ru_utime.tv_sec) + Int64(usage.ru_stime.tv_sec)) * 1_000_000
        + Int64(usage.ru_utime.tv_usec) + Int64(usage.ru_stime.tv_usec)
    return .microseconds(micros)
}

/// Runs `workers` tasks calling `operation` until `seconds` pass (and at most `limit` calls in
/// all); returns operations per second.
public func measure(
    workers: Int, seconds: Double, limit: Int = .max,
    _ operation: @escaping @Sendable (_ worker: Int, _ iteration: Int) async throws -> Void
) async throws -> Double {
    let start = ContinuousClock.now
    let deadline = start + .milliseconds(Int(seconds * 1000))
    let perWorker = limit == .max ? Int.max : (limit + workers - 1) / workers
    let total = try await withThrowingTaskGroup(of: Int.self) { group in
        for worker in 0..<workers {
            group.addTask {
                var count = 0
                while count < perWorker, ContinuousClock.now < deadline {
                    try await operation(worker, count)
                    count += 1
                }
                return count
            }
        }
        return try await group.reduce(0, +)
    }
    return Double(total) / (ContinuousClock.now - start).seconds
}

/// Each operation's best rate (and the lowest CPU per operation) over `rounds` rounds, the operations
/// alternating within each round: the machine is shared, and interference only ever slows a run.
/// The operation's iteration numbers carry the round in their upper bits, so keys stay unique.
public func alternate(
    workers: Int, seconds: Double, rounds: Int = 3, _ operations: [@Sendable (Int, Int) async throws -> Void]
) async throws -> [Measured] {
    var best = [Measured](repeating: Measured(rate: 0, cpuPerOperation: .seconds(1)), count: operations.count)
    for round in 0..<rounds {
        for (index, operation) in operations.enumerated() {
            let start = ContinuousClock.now
            let cpu = processCPU()
            let rate = try await measure(workers: workers, seconds: seconds) { worker, iteration in
                try await operation(worker, iteration + round << 32)
            }
            let operationsDone = rate * (ContinuousClock.now - start).seconds
            let perOperation = (processCPU() - cpu) / max(1, operationsDone)
            best[index].rate = max(best[index].rate, rate)
            best[index].cpuPerOperation = min(best[index].cpuPerOperation, perOperation)
        }
    }
    return best
}

/// Runs `operation(index)` for index 0..<count on `workers` concurrent tasks, stopping early
/// once `timeLimit` passed; returns how many operations completed and how long it took.
public func runAll(
    count: Int, workers: Int, timeLimit: Duration,
    _ operation: @escaping @Sendable (_ index: Int) async throws -> Void
) async throws -> (done: Int, elapsed: Duration) {
    let start = ContinuousClock.now
    let deadline = start + timeLimit
    let tickets = Tickets()
    let done = try await withThrowingTaskGroup(of: Int.self) { group in
        for _ in 0..<workers {
            group.addTask {
                var completed = 0
                while ContinuousClock.now < deadline {
                    let index = tickets.next()
                    guard index < count else { break }
                    try await operation(index)
                    completed += 1
                }
                return completed
            }
        }
        return try await group.reduce(0, +)
    }
    return (done, ContinuousClock.now - start)
}

/// Hands out 0, 1, 2, … to concurrent workers.
private final class Tickets: Sendable {
    private let counter = Atomic<Int>(0)
    func next() -> Int { counter.wrappingAdd(1, ordering: .relaxed).oldValue }
}
