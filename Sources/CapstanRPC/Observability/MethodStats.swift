import CapstanAPI
import Synchronization

/// The counters of one method on one server. `callStarted`/`callEnded` run on every call, from
/// any thread, and take no lock: every counter is an atomic (relaxed; they are independent
/// counts, read together only by `snapshot`).
final class MethodStats: Sendable {
    /// `RPCCode.allCases.count` and `LatencyBuckets.count` (checked in `init`).
    private static let codeCount = 17
    private static let bucketCount = 17

    let method: AnyMethodDescriptor
    /// The `RPCMetrics` these counters belong to.
    let owner: ObjectIdentifier
    /// Shown in snapshots: set by the first call (or a lookup by method), see `RPCMetrics.preparedStats`.
    private let listed: Atomic<Bool>
    private let inFlight = Atomic<Int>(0)
    /// Finished calls by `RPCCode.rawValue` (0…16).
    private let codes: InlineArray<17, Atomic<UInt64>>
    /// Finished calls per latency bucket (not cumulative), the last one +Inf.
    private let buckets: InlineArray<17, Atomic<UInt64>>
    /// Microseconds (each call rounded): watches add their whole lifetime, and in nanoseconds a
    /// signed sum of 1,000 watchers' hours wrapped negative within months; this lasts centuries.
    private let latencySumMicroseconds = Atomic<UInt64>(0)
    private let messagesReceived = Atomic<UInt64>(0)
    private let messagesSent = Atomic<UInt64>(0)

    init(method: AnyMethodDescriptor, owner: RPCMetrics, listed: Bool) {
        precondition(RPCCode.allCases.count == Self.codeCount && LatencyBuckets.count == Self.bucketCount)
        self.method = method
        self.owner = ObjectIdentifier(owner)
        self.listed = Atomic(listed)
        codes = InlineArray { _ in Atomic<UInt64>(0) }
        buckets = InlineArray { _ in Atomic<UInt64>(0) }
    }

    var isListed: Bool { listed.load(ordering: .acquiring) }

    func list() {
        // A load first: after the first call the flag is only read, so its cache line stays shared.
        if !listed.load(ordering: .relaxed) { listed.store(true, ordering: .releasing) }
    }

    func callStarted() {
        list()
        inFlight.add(1, ordering: .relaxed)
    }

    func callEnded(code: RPCCode, latencyNanoseconds: Int64, received: Int, sent: Int) {
        let latency = max(latencyNanoseconds, 0)
        buckets[LatencyBuckets.index(of: latency)].wrappingAdd(1, ordering: .relaxed)
        latencySumMicroseconds.wrappingAdd(UInt64(latency / 1_000 + (latency % 1_000 >= 500 ? 1 : 0)), ordering: .relaxed)
        if received != 0 { messagesReceived.wrappingAdd(UInt64(received), ordering: .relaxed) }
        if sent != 0 { messagesSent.wrappingAdd(UInt64(sent), ordering: .relaxed) }
        // The code last, so a reader that sees the call counted sees the rest too (mostly: the
        // counters are independent; a snapshot taken while calls end may be a call apart).
        codes[code.rawValue].wrappingAdd(1, ordering: .releasing)
        inFlight.subtract(1, ordering: .relaxed)
    }

    /// A copy of the counters. Taken while calls end, the message and latency counters may
    /// include a few of those calls; the histogram is kept consistent with `calls` (codes are
    /// read first and every call's bucket is counted before its code, so cumulative bucket
    /// counts are capped at `calls`).
    func snapshot() -> MethodMetrics {
        var codeCounts = [UInt64](repeating: 0, count: Self.codeCount)
        for index in 0..<Self.codeCount { codeCounts[index] = codes[index].load(ordering: .acquiring) }
        var bucketCounts = [UInt64](repeating: 0, count: Self.bucketCount)
        for index in 0..<Self.bucketCount { bucketCounts[index] = buckets[index].load(ordering: .relaxed) }
        var result = MethodMetrics()
        result.service = method.service
        result.method = method.method
        result.kind = method.kind.rawValue
        for code in RPCCode.allCases where codeCounts[code.rawValue] > 0 {
            var count = MethodMetrics.CodeCount()
            count.code = code.description
            count.number = Int32(code.rawValue)
            count.count = codeCounts[code.rawValue]
            result.codes.append(count)
        }
        result.calls = codeCounts.reduce(0, &+)
        result.inFlight = Int64(inFlight.load(ordering: .relaxed))
        result.messagesReceived = messagesReceived.load(ordering: .relaxed)
        result.messagesSent = messagesSent.load(ordering: .relaxed)
        var cumulative: UInt64 = 0
        for (index, count) in bucketCounts.enumerated() {
            cumulative &+= count
            var bucket = MethodMetrics.Bucket()
            bucket.upperBoundSeconds = LatencyBuckets.boundsSeconds[index]
            bucket.cumulativeCount = index == Self.bucketCount - 1 ? result.calls : min(cumulative, result.calls)
            result.latencyBuckets.append(bucket)
        }
        result.latencySumSeconds = Double(latencySumMicroseconds.load(ordering: .relaxed)) / 1e6
        return result
    }
}
