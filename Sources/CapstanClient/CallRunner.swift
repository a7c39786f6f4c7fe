import CapstanHTTP2
import CapstanRPC
import CapstanWire

/// Whether a call may run twice with the same effect as once.
enum Idempotency: Sendable {
    /// Reads (Get, List, opening a Watch): retried after any `UNAVAILABLE`.
    case idempotent
    /// Writes: retried only when the transport proves the server never processed them.
    case write
}

/// Makes the calls of every typed client: metadata (bearer token), deadline, retries.
struct CallRunner: Sendable {
    let rpc: RPCClient
    let options: ClientOptions

    /// The request metadata of every call.
    var metadata: Metadata {
        var metadata = Metadata()
        if let token = options.token { try? metadata.add("authorization", "Bearer \(token)") }
        return metadata
    }

    /// Whether `error` may be retried for a call of `idempotency`.
    static func isRetryable(_ error: RPCError, _ idempotency: Idempotency) -> Bool {
        guard error.code == .unavailable else { return false }
        switch idempotency {
        case .idempotent: return true
        case .write: return error.trailers.first(HTTP2ClientTransport.unprocessedKey) != nil
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
        while true {
            attempts += 1
            let remaining = deadline.map { ContinuousClock.now.duration(to: $0) }
            if let remaining, remaining <= .zero {
                throw RPCError(code: .deadlineExceeded, message: "the deadline passed before \(path) could be sent")
            }
            do {
                return try await attempt(CallOptions(timeout: remaining, metadata: metadata))
            } catch let error as RPCError {
                guard Self.isRetryable(error, idempotency), attempts < options.retry.maxAttempts else { throw error }
                let pause = options.retry.pause(after: attempts)
                if let deadline, ContinuousClock.now.advanced(by: pause) >= deadline {
                    throw RPCError(
                        code: .deadlineExceeded,
                        message: "the deadline passed while retrying \(path) (\(attempts) attempts); last error: \(error)")
                }
                try await Task.sleep(for: pause)
            }
        }
    }

    /// A unary call with the default deadline (or `timeout`) and retries as `idempotency` allows.
    func unary<Request, Response>(
        _ method: MethodDescriptor<Request, Response>,
        _ request: Request,
        timeout: Duration?,
        _ idempotency: Idempotency
    ) async throws -> Response {
        try await withRetries(method.path, timeout: timeout ?? options.timeout, idempotency) { callOptions in
            try await rpc.unary(method, request, options: callOptions)
        }
    }
}
