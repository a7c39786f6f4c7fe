import CapstanHTTP2
import CapstanRPC

/// The one table from etcd's gRPC errors (etcd `api/v3rpc/rpctypes/error.go`) to `StoreError`.
///
/// Compaction needs the compacted revision, which etcd's error does not carry: it maps to
/// `.compacted` with `compactedRevision` 0, and `EtcdStore` fills the revision in.
enum EtcdErrors {
    static let compactedMessage = "required revision has been compacted"
    static let futureRevisionMessage = "required revision is a future revision"
    /// How the reason begins when an answer was larger than the transport's
    /// `maxReceiveMessageSize` (a listing whose values are large).
    static let answerTooLarge = "etcd's answer is larger than this client accepts: "

    static func storeError(_ error: any Error, leaseID: Int64 = 0, revision: Int64 = 0) -> StoreError {
        if let error = error as? StoreError { return error }
        let rpc = RPCError(converting: error)
        let message = rpc.message
        switch rpc.code {
        case .outOfRange where message.contains(compactedMessage):
            return .compacted(requested: revision, compactedRevision: 0)
        case .outOfRange where message.contains(futureRevisionMessage):
            return .invalid(reason: "revision \(revision) is in the future (\(message))")
        case .notFound where message.contains("lease not found"):
            return .notFound(key: leaseKey(leaseID))
        case .resourceExhausted where ReceiveLimit.isExceeded(rpc):
            // Not etcd's refusal: this client's own limit on an answer's size.
            return .invalid(reason: answerTooLarge + message)
        case .invalidArgument, .outOfRange, .failedPrecondition:
            // Empty key, request too large, too many operations, lease TTL too large, …
            return .invalid(reason: "etcd refused the request: \(message)")
        default:
            // No leader, leader changed, timed out, stopped, too many requests, no space, lost
            // connections, deadlines: the request may be retried later.
            return .unavailable(reason: "etcd: \(rpc.code): \(message)")
        }
    }

    /// Whether a read that failed this way may be retried on (possibly) another member.
    static func isRetryable(_ error: StoreError) -> Bool {
        if case .unavailable = error { return true }
        return false
    }
}

extension StoreError {
    /// Whether this is an answer refused for its size (see `EtcdErrors.answerTooLarge`).
    var isAnswerTooLarge: Bool {
        if case .invalid(let reason) = self { return reason.hasPrefix(EtcdErrors.answerTooLarge) }
        return false
    }

    /// Whether this is `compacted` without its revision (see `EtcdErrors`).
    var needsCompactedRevision: Bool {
        if case .compacted(_, 0) = self { return true }
        return false
    }
}
