import CapstanHTTP2
import CapstanRPC
import Synchronization

/// How `EtcdStore` runs one request: within `options.requestTimeout` (see `EtcdDeadlines`), not
/// cancelled by its caller (a cancelled caller still gets the outcome, see `Store`), with failures
/// mapped through `EtcdErrors`.
///
/// - A write runs in a task of its own, so that cancelling the caller does not abandon a write etcd
///   may already have applied; its deadline cancels that task. It is never retried.
/// - A read (idempotent) runs in the caller's task, with no task of its own: the request's
///   `EtcdCallHandle` is the call's only client interceptor, and its deadline resets the call's
///   HTTP/2 stream. Should the caller be cancelled meanwhile (which resets the stream too), the read
///   is made again in a task of its own, as a write is, so the caller still gets its answer. Reads
///   that fail in a way that may be transient are retried with backoff.
///
/// A read's deadline applies once its stream is open; opening one (a connection being made to a
/// member) is bounded by the transport's `connectTimeout` and failover, and a read whose deadline
/// passed meanwhile is reset as soon as its stream opens.
extension EtcdStore {
    /// Runs one write (or other request not to be repeated) in a task of its own. When it fails
    /// `unavailable` after it may have reached etcd (no answer in time, a lost connection, etcd's
    /// own timeout or leader change), the reason says that it may still take effect: a caller that
    /// repeats it blindly may find it done (a create's name taken, an update's revision moved).
    func perform<T: Sendable>(
        leaseID: Int64 = 0, revision: Int64 = 0, _ body: @escaping @Sendable () async throws -> T
    ) async throws(StoreError) -> T {
        try checkOpen()
        switch await inTask(notBefore: nil, leaseID: leaseID, revision: revision, body, isWrite: true) {
        case .success(let value): return value
        case .failure(let failure): throw failure
        }
    }

    /// Appended to the reason of a request that failed `unavailable` but may have reached etcd.
    public static let mayTakeEffect = "; the request may still take effect: read the object before repeating it"

    /// Runs one idempotent read with `body(rpc)`, retried after failures that may be transient.
    func performRead<T: Sendable>(
        leaseID: Int64 = 0, revision: Int64 = 0, _ body: @escaping @Sendable (RPCClient) async throws -> T
    ) async throws(StoreError) -> T {
        try checkOpen()
        var delay = Duration.zero
        var attempt = 0
        var notBefore: ContinuousClock.Instant? = nil
        while true {
            let failure: StoreError
            switch await readAttempt(notBefore: notBefore, leaseID: leaseID, revision: revision, body) {
            case .success(let value): return value
            case .failure(let error): failure = error
            }
            // A cancelled caller (a shutdown, a client gone) gets the failure rather than more tries.
            guard attempt < options.readRetries, EtcdErrors.isRetryable(failure), !isClosed, !Task.isCancelled else {
                throw failure
            }
            attempt += 1
            counters.retries.add(1, ordering: .relaxed)
            retriedFailure.withLock { $0 = ("\(failure)", .now) }
            delay = attempt == 1 ? options.retryDelay : min(delay * 2, options.maxRetryDelay)
            notBefore = .now + delay
        }
    }

    /// One attempt of a read: in the caller's task unless the caller is cancelled.
    private func readAttempt<T: Sendable>(
        notBefore: ContinuousClock.Instant?, leaseID: Int64, revision: Int64,
        _ body: @escaping @Sendable (RPCClient) async throws -> T
    ) async -> Result<T, StoreError> {
        if let notBefore, notBefore > .now { try? await Task.sleep(until: notBefore) }
        if !Task.isCancelled {
            let outcome = await inCallersTask(leaseID: leaseID, revision: revision, body)
            // A cancelled caller resets the stream: unless the answer came first, ask again.
            guard Task.isCancelled, case .failure = outcome else { return outcome }
        }
        let rpc = rpc
        return await inTask(notBefore: notBefore, leaseID: leaseID, revision: revision) { try await body(rpc) }
    }

    private func inCallersTask<T: Sendable>(
        leaseID: Int64, revision: Int64, _ body: @Sendable (RPCClient) async throws -> T
    ) async -> Result<T, StoreError> {
        let handle = EtcdCallHandle()
        let id = deadlines.register(.now + options.requestTimeout, handle)
        let error: any Error
        do {
            let value = try await body(RPCClient(transport: transport, interceptors: [handle]))
            _ = deadlines.finish(id)
            return .success(value)
        } catch let thrown {
            error = thrown
        }
        return .failure(failure(error, inTime: deadlines.finish(id), leaseID: leaseID, revision: revision))
    }

    /// Runs `body` in a task of its own, after `notBefore`, cancelling it at the deadline.
    /// `isWrite`: an `unavailable` failure that may have reached etcd says `mayTakeEffect`.
    private func inTask<T: Sendable>(
        notBefore: ContinuousClock.Instant?, leaseID: Int64, revision: Int64,
        _ body: @escaping @Sendable () async throws -> T, isWrite: Bool = false
    ) async -> Result<T, StoreError> {
        let task = Task.immediate { () async -> Result<T, any Error> in
            if let notBefore, notBefore > .now { try? await Task.sleep(until: notBefore) }
            do {
                return .success(try await body())
            } catch {
                return .failure(error)
            }
        }
        let start = Swift.max(notBefore ?? .now, .now)
        let id = deadlines.register(start + options.requestTimeout, task)
        let outcome = await task.value
        let inTime = deadlines.finish(id)
        switch outcome {
        case .success(let value): return .success(value)
        case .failure(let error):
            let mapped = failure(error, inTime: inTime, leaseID: leaseID, revision: revision)
            guard isWrite, case .unavailable(let reason) = mapped, !Self.neverSent(error), !Self.refusedUnapplied(error)
            else { return .failure(mapped) }
            return .failure(.unavailable(reason: reason + Self.mayTakeEffect))
        }
    }

    private func failure(_ error: any Error, inTime: Bool, leaseID: Int64, revision: Int64) -> StoreError {
        guard inTime else { return .unavailable(reason: "etcd did not answer within \(options.requestTimeout)") }
        return EtcdErrors.storeError(error, leaseID: leaseID, revision: revision)
    }

    /// Whether the transport proves the request never reached etcd (no member reachable, the
    /// connection closed before the stream went out, a refused stream).
    private static func neverSent(_ error: any Error) -> Bool {
        (error as? RPCError)?.isUnprocessed == true
    }

    /// Whether etcd answered that it did not apply the write: RESOURCE_EXHAUSTED (its space quota,
    /// NOSPACE, or too many requests: refused before or at apply, nothing written) and "no leader"
    /// (refused before it was proposed). Other answers, such as a leader change or a timeout, may
    /// come after the write was proposed, and it may still be applied.
    private static func refusedUnapplied(_ error: any Error) -> Bool {
        guard let rpc = error as? RPCError, !rpc.isUnprocessed else { return false }
        return rpc.code == .resourceExhausted || rpc.message.hasSuffix("etcdserver: no leader")
    }
}

/// One read's hold on its HTTP/2 stream: the call's only client interceptor, it keeps the stream's
/// writer so that the read's deadline can reset the stream (`cancel`), also when the deadline
/// passed while the stream was being opened.
final class EtcdCallHandle: ClientInterceptor, EtcdDeadlineTarget, Sendable {
    private struct State {
        var writer: (any ClientStreamWriter)?
        var cancelled = false
    }

    private let state = Mutex(State())

    func intercept(
        _ head: ClientRequestHead, next: @Sendable (ClientRequestHead) async throws -> ClientTransportStream
    ) async throws -> ClientTransportStream {
        let stream = try await next(head)
        let cancelled = state.withLock { state in
            state.writer = stream.writer
            return state.cancelled
        }
        if cancelled { stream.writer.cancel() }
        return stream
    }

    /// Resets the call's stream (now, or as soon as it opens).
    func deadlinePassed() {
        let writer = state.withLock { state in
            state.cancelled = true
            return state.writer
        }
        writer?.cancel()
    }
}
