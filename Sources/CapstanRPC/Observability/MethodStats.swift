import CapstanAPI
import Synchronization

/// The counters of one method on one server. `callStarted`/`callEnded` run on every call, from
/// any thread: the in-flight gauge is an atomic, and everything a finished call adds is updated
/// under one per-method lock held for a few array increments.
final class MethodStats: Sendable {
    private struct Totals {
        /// Finished calls by `RPCCode.rawValue` (0…16).
        var codes = [UInt64](repeating: 0, count: RPCCode.allCases.count)
        /// Finished calls per latency bucket (not cumulative), the last one +Inf.
        var buckets = [UInt64](repeating: 0, count: LatencyBuckets.count)
        var latencySumNanoseconds: Int64 = 0
        var messagesReceived: UInt64 = 0
        var messagesSent: UInt64 = 0
    }

    let method: AnyMethodDescriptor
    private let inFlight = Atomic<Int>(0)
    private let totals = Mutex(Totals())

    init(method: AnyMethodDescriptor) {
        self.method = method
    }

    func callStarted() {
        inFlight.add(1, ordering: .relaxed)
    }

    func callEnded(code: RPCCode, latencyNanoseconds: Int64, received: Int, sent: Int) {
        let latency = max(latencyNanoseconds, 0)
        let bucket = LatencyBuckets.index(of: latency)
        totals.withLock { totals in
            totals.codes[code.rawValue] &+= 1
            totals.buckets[bucket] &+= 1
            totals.latencySumNanoseconds &+= latency
            totals.messagesReceived &+= UInt64(received)
            totals.messagesSent &+= UInt64(sent)
        }
        inFlight.subtract(1, ordering: .relaxed)
    }

    /// A consistent copy of the counters (the gauge is read separately, just after).
    func snapshot() -> MethodMetrics {
        let totals = totals.withLock { $0 }
        var result = MethodMetrics()
        result.service = method.service
        result.method = method.method
        result.kind = method.kind.rawValue
        for code in RPCCode.allCases where totals.codes[code.rawValue] > 0 {
            var count = MethodMetrics.CodeCount()
            count.code = code.description
            count.number = Int32(code.rawValue)
            count.count = totals.codes[code.rawValue]
            result.codes.append(count)
        }
        result.calls = totals.codes.reduce(0, &+)
        result.inFlight = Int64(inFlight.load(ordering: .relaxed))
        result.messagesReceived = totals.messagesReceived
        result.messagesSent = totals.messagesSent
        var cumulative: UInt64 = 0
        for (index, count) in totals.buckets.enumerated() {
            cumulative &+= count
            var bucket = MethodMetrics.Bucket()
            bucket.upperBoundSeconds = LatencyBuckets.boundsSeconds[index]
            bucket.cumulativeCount = cumulative
            result.latencyBuckets.append(bucket)
        }
        result.latencySumSeconds = Double(totals.latencySumNanoseconds) / 1e9
        return result
    }
}
