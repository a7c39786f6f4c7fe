import Synchronization

/// The granted leases and their deadlines (monotonic clock). Deadlines live only in memory: when the
/// store opens, every stored lease gets its full TTL again (etcd does the same on leader change).
final class LeaseTable: Sendable {
    struct Lease {
        var ttl: Duration
        var deadline: ContinuousClock.Instant
    }

    private let leases = Mutex<[Int64: Lease]>([:])

    func contains(_ id: Int64) -> Bool {
        leases.withLock { $0[id] != nil }
    }

    func add(_ id: Int64, ttl: Duration, now: ContinuousClock.Instant = .now) {
        leases.withLock { $0[id] = Lease(ttl: ttl, deadline: now + ttl) }
    }

    func remove(_ id: Int64) {
        leases.withLock { _ = $0.removeValue(forKey: id) }
    }

    /// Restarts the lease's countdown; its TTL, or nil if unknown or already past its deadline.
    func keepAlive(_ id: Int64, now: ContinuousClock.Instant = .now) -> Duration? {
        leases.withLock { leases in
            guard var lease = leases[id], lease.deadline > now else { return nil }
            lease.deadline = now + lease.ttl
            leases[id] = lease
            return lease.ttl
        }
    }

    func isExpired(_ id: Int64, now: ContinuousClock.Instant) -> Bool {
        leases.withLock { $0[id].map { $0.deadline <= now } ?? false }
    }

    func expired(now: ContinuousClock.Instant) -> [Int64] {
        leases.withLock { $0.filter { $0.value.deadline <= now }.map(\.key).sorted() }
    }

    func nextDeadline() -> ContinuousClock.Instant? {
        leases.withLock { $0.values.map(\.deadline).min() }
    }
}
