/// The fixed upper bounds of every latency histogram: 0.1 ms to 10 s in 1–2.5–5 steps, then +Inf.
enum LatencyBuckets {
    /// Upper bounds in nanoseconds, ascending; a latency equal to a bound falls in that bucket.
    static let boundsNanoseconds: [Int64] = [
        100_000, 250_000, 500_000,
        1_000_000, 2_500_000, 5_000_000,
        10_000_000, 25_000_000, 50_000_000,
        100_000_000, 250_000_000, 500_000_000,
        1_000_000_000, 2_500_000_000, 5_000_000_000,
        10_000_000_000,
    ]

    /// The bounds as Prometheus `le` label values (seconds), then `+Inf`.
    static let labels: [String] = [
        "0.0001", "0.00025", "0.0005",
        "0.001", "0.0025", "0.005",
        "0.01", "0.025", "0.05",
        "0.1", "0.25", "0.5",
        "1", "2.5", "5",
        "10", "+Inf",
    ]

    /// The bounds in seconds, then +∞.
    static let boundsSeconds: [Double] = boundsNanoseconds.map { Double($0) / 1e9 } + [.infinity]

    /// Buckets including the +Inf one.
    static var count: Int { boundsNanoseconds.count + 1 }

    /// The bucket of a latency: the first whose bound is at least `nanoseconds`, else +Inf.
    @inline(__always)
    static func index(of nanoseconds: Int64) -> Int {
        var index = 0
        while index < boundsNanoseconds.count, nanoseconds > boundsNanoseconds[index] { index += 1 }
        return index
    }
}

extension Duration {
    /// The duration in whole nanoseconds (saturating).
    var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return product.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}
