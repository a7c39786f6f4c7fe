import Synchronization

/// Counters of an `EtcdStore`'s recoveries, for diagnostics and tests.
public struct EtcdStoreStatistics: Sendable, Hashable {
    /// Reads (and keep-alives) sent again after a failure.
    public var retries: Int
    /// Watch streams re-established after a broken stream, connection or cancellation by etcd.
    public var watchResumes: Int
    /// `LeaseKeepAlive` streams opened (the first one included).
    public var keepAliveStreams: Int
}

/// The live counters behind `EtcdStoreStatistics`.
final class EtcdCounters: Sendable {
    let retries = Atomic<Int>(0)
    let watchResumes = Atomic<Int>(0)
    let keepAliveStreams = Atomic<Int>(0)

    var snapshot: EtcdStoreStatistics {
        EtcdStoreStatistics(
            retries: retries.load(ordering: .relaxed), watchResumes: watchResumes.load(ordering: .relaxed),
            keepAliveStreams: keepAliveStreams.load(ordering: .relaxed))
    }
}
