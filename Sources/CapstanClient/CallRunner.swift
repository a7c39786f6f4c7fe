import CapstanAPI
import CapstanHTTP2
import CapstanRPC
import CapstanWire
import Synchronization

/// Whether a call may run twice with the same effect as once.
enum Idempotency: Sendable {
    /// Reads (Get, List, opening a Watch): retried after any `UNAVAILABLE`.
    case idempotent
    /// Writes: retried only when the transport proves the server never processed them.
    case write
}

/// The newest store revision a client has seen: in an object or a list it wrote or read, or in
/// a watch event it received.
/// Its reads carry it (`ReadAfter`), so an API server that answers one after a failover first
/// catches up with what the client saw through another: it reads its own writes, and never an
/// older state than it already read.
final class ReadSession: Sendable {
    private let newest = Atomic<Int64>(0)

    /// The revision reads must reflect at least; 0 before the first answer.
    var revision: Int64 { newest.load(ordering: .relaxed) }

    /// Forgets every revision seen: they came from another store (`ReadAfter.rejectedKey`).
    func forget(_ revision: Int64) {
        _ = newest.compareExchange(expected: revision, desired: 0, ordering: .relaxed)
    }

    /// Notes a revision the client has seen.
    func note(_ revision: UInt64) {
        let revision = Int64(clamping: revision)
        var current = newest.load(ordering: .relaxed)
        while current < revision {
            let (exchanged, original) = newest.compareExchange(expected: current, desired: revision, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}

/// Makes the calls of every typed client: metadata (bearer token, `ReadAfter` on reads),
/// deadline, retries.
struct CallRunner: Sendable {
    let rpc: RPCClient
    let options: ClientOptions
    let session = ReadSession()

    /// The request metadata of a call: the token, and `ReadAfter` with `readAfter` unless it is 0.
    /// INVALID_ARGUMENT for a token a header cannot carry: sent anyway, a server drops such a
    /// field (as gRPC requires) and the call would fail as unauthenticated, for no clear reason.
    func metadata(readAfter: Int64) throws(RPCError) -> Metadata {
        var metadata = Metadata()
        if let token = options.token {
            do {
                try metadata.add("authorization", "Bearer \(token)")
            } catch {
                throw RPCError(
                    code: .invalidArgument,
                    message: "the client's token cannot be sent: a header value holds printable ASCII characters only (0x20–0x7E)")
            }
        }
        if readAfter > 0 { try? metadata.add(ReadAfter.key, String(readAfter)) }
        return metadata
    }

    /// Whether `error` may be retried for a call of `idempotency`.
    static func isRetryable(_ error: RPCError, _ idempotency: Idempotency) -> Bool {
        guard error.code == .unavailable else { return false }
        switch idempotency {
        case .idempotent: return true
        case .write: return error.isUnprocessed
        }
    }

    /// Runs `attempt` with the call's remaining time until it succeeds, fails for good, runs out
    /// of attempts, or the deadline (`timeout` from now; `nil`: none) passes.
    func withRetries<Value: Sendable>(
        _ path: String,
        timeout: Duration?,
        _ idempotency: Idempotency,
        _ attempt: (CallOptions) async throws -> Value
    ) async throws -> Value {
        let deadline = timeout.map { ContinuousClock.now.advanced(by: $0) }
        var attempts = 0
        var forgotten = false
        // The failure before the current attempt, for the error at the deadline.
        var last: RPCError?
        while true {
            attempts += 1
            let remaining = deadline.map { ContinuousClock.now.duration(to: $0) }
            if let remaining, remaining <= .zero {
                guard let last else {
                    throw HTTP2ClientTransport.markedUnprocessed(
                        RPCError(code: .deadlineExceeded, message: "the deadline passed before \(path) could be sent"))
                }
                throw Self.expired(path, attempts: attempts - 1, last: last)
            }
            let sent = idempotency == .idempotent ? session.revision : 0
            do {
                return try await attempt(CallOptions(timeout: remaining, metadata: try metadata(readAfter: sent)))
            } catch let error as RPCError
                where !forgotten && sent > 0 && error.trailers.first(ReadAfter.rejectedKey) != nil
            {
                // The revisions this client saw are not from the store behind the server (it was
                // replaced): forget them and read again, once.
                session.forget(sent)
                forgotten = true
            } catch let error as RPCError {
                guard Self.isRetryable(error, idempotency), attempts < options.retry.maxAttempts else { throw error }
                let pause = options.retry.pause(after: attempts)
                if let deadline, ContinuousClock.now.advanced(by: pause) >= deadline {
                    throw Self.expired(path, attempts: attempts, last: error)
                }
                last = error
                try await Task.sleep(for: pause)
            }
        }
    }

    /// DEADLINE_EXCEEDED after `attempts` that failed, the last with `last`; marked unprocessed
    /// when that last attempt never reached a server (a write is retried only after such ones).
    private static func expired(_ path: String, attempts: Int, last: RPCError) -> RPCError {
        let expired = RPCError(
            code: .deadlineExceeded,
            message: "the deadline passed while retrying \(path) (\(attempts) attempts); last error: \(last)")
        return last.isUnprocessed ? HTTP2ClientTransport.markedUnprocessed(expired) : expired
    }

    /// A unary call with the default deadline (or `timeout`) and retries as `idempotency` allows.
    func unary<Request, Response>(
        _ method: MethodDescriptor<Request, Response>,
        _ request: Request,
        timeout: Duration?,
        _ idempotency: Idempotency
    ) async throws -> Response {
        let timeout = timeout ?? options.timeout
        let response = try await withRetries(method.path, timeout: timeout, idempotency) { callOptions in
            try await rpc.unary(method, request, options: callOptions)
        }
        if let object = response as? any APIObject { session.note(object.metadata.resourceVersion) }
        return response
    }
}
