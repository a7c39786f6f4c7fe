import CapstanAPI
import CapstanRPC
import Synchronization

/// Keeps leases alive over one bidirectional `LeaseKeepAlive` stream shared by every caller, opened
/// on first use and again after it breaks.
///
/// etcd answers a stream's keep-alives in the order it receives them, so each lease id has a queue
/// of waiting callers and an answer for that id resumes the first. When the stream breaks, every
/// waiter fails and retries (a keep-alive is idempotent) on a new stream, within the store's retry
/// budget; a waiter that gets no answer within the request timeout gives up with `unavailable`.
final class EtcdLeaseKeeper: Sendable {
    private struct State {
        var stream: KeepAliveStream?
        var stopped = false
    }

    private let client: Etcdserverpb_Lease.Client
    private let options: EtcdStoreOptions
    private let state = Mutex(State())
    private let counters: EtcdCounters

    init(client: Etcdserverpb_Lease.Client, options: EtcdStoreOptions, counters: EtcdCounters) {
        self.client = client
        self.options = options
        self.counters = counters
    }

    /// Renews `lease`; returns etcd's TTL in seconds (0 or less: the lease is gone).
    func keepAlive(_ lease: Int64) async throws(StoreError) -> Int64 {
        let options = options
        // In a task of its own, like every other call: a renewal already sent is not abandoned.
        let task = Task { () async -> Result<Int64, StoreError> in
            var delay = options.retryDelay
            var attempt = 0
            while true {
                let failure: StoreError
                do throws(StoreError) {
                    let stream = try await self.currentStream()
                    switch await stream.renew(lease, timeout: options.requestTimeout) {
                    case .success(let ttl): return .success(ttl)
                    case .failure(let error):
                        self.discard(stream)
                        failure = error
                    }
                } catch {
                    failure = error
                }
                guard attempt < options.readRetries, EtcdErrors.isRetryable(failure), !self.isStopped else {
                    return .failure(failure)
                }
                attempt += 1
                self.counters.retries.add(1, ordering: .relaxed)
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, options.maxRetryDelay)
            }
        }
        return try await task.value.get()
    }

    private var isStopped: Bool { state.withLock { $0.stopped } }

    /// The open stream, or a new one.
    private func currentStream() async throws(StoreError) -> KeepAliveStream {
        if let stream = try state.withLock({ (state) throws(StoreError) -> KeepAliveStream? in
            if state.stopped { throw .unavailable(reason: "the store is closed") }
            return state.stream
        }) {
            return stream
        }
        let call: BidirectionalCall<Etcdserverpb_LeaseKeepAliveRequest, Etcdserverpb_LeaseKeepAliveResponse>
        do {
            call = try await client.leaseKeepAlive(options: CallOptions(metadata: EtcdWatchSource.requireLeader))
        } catch {
            throw EtcdErrors.storeError(error)
        }
        let fresh = KeepAliveStream(call: call)
        let (winner, stopped) = state.withLock { state -> (KeepAliveStream, Bool) in
            if state.stream == nil, !state.stopped { state.stream = fresh }
            return (state.stream ?? fresh, state.stopped)
        }
        if winner !== fresh || stopped {
            fresh.close()  // another caller opened one first, or the store closed meanwhile
            if stopped { throw .unavailable(reason: "the store is closed") }
            return winner
        }
        fresh.startReading()
        counters.keepAliveStreams.add(1, ordering: .relaxed)
        return fresh
    }

    private func discard(_ stream: KeepAliveStream) {
        state.withLock { state in
            if state.stream === stream { state.stream = nil }
        }
        stream.close()
    }

    /// Closes the stream; later keep-alives fail.
    func stop() {
        let stream = state.withLock { state in
            state.stopped = true
            defer { state.stream = nil }
            return state.stream
        }
        stream?.close()
    }
}

/// One `LeaseKeepAlive` call: the callers waiting for answers, per lease id, in sending order.
final class KeepAliveStream: Sendable {
    private struct Waiter {
        let token: UInt64
        let continuation: CheckedContinuation<Result<Int64, StoreError>, Never>
        /// Gives up on the answer after the request timeout.
        let timer: Task<Void, Never>

        func resume(_ result: Result<Int64, StoreError>) {
            timer.cancel()
            continuation.resume(returning: result)
        }
    }

    private struct State {
        var waiters: [Int64: FIFO<Waiter>] = [:]
        var nextToken: UInt64 = 0
        var failure: StoreError?
        var tasks: [Task<Void, Never>] = []
    }

    private let call: BidirectionalCall<Etcdserverpb_LeaseKeepAliveRequest, Etcdserverpb_LeaseKeepAliveResponse>
    private let state = Mutex(State())
    /// Lease ids to send, in order, by the one sending task.
    private let outbox: AsyncStream<Int64>.Continuation
    private let pending: AsyncStream<Int64>

    init(call: BidirectionalCall<Etcdserverpb_LeaseKeepAliveRequest, Etcdserverpb_LeaseKeepAliveResponse>) {
        self.call = call
        (pending, outbox) = AsyncStream.makeStream(of: Int64.self)
    }

    /// Starts the tasks that send the queued keep-alives and read the answers.
    func startReading() {
        let sender = Task { [self] in
            for await lease in pending {
                var request = Etcdserverpb_LeaseKeepAliveRequest()
                request.ID = lease
                do {
                    try await call.send(request)
                } catch {
                    fail(EtcdErrors.storeError(error))
                    return
                }
            }
        }
        let reader = Task { [self] in
            do {
                for try await response in call.responses {
                    deliver(response)
                }
                fail(.unavailable(reason: "etcd ended the keep-alive stream"))
            } catch {
                fail(EtcdErrors.storeError(error))
            }
        }
        state.withLock { $0.tasks = [sender, reader] }
    }

    /// Sends one keep-alive and waits for its answer (at most `timeout`).
    func renew(_ lease: Int64, timeout: Duration) async -> Result<Int64, StoreError> {
        let token = state.withLock { state in
            state.nextToken += 1
            return state.nextToken
        }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Result<Int64, StoreError>, Never>) in
            let failure = state.withLock { state -> StoreError? in
                if let failure = state.failure { return failure }
                let timer = Task {
                    guard (try? await Task.sleep(for: timeout)) != nil else { return }
                    self.resume(lease, token, .failure(.unavailable(reason: "no keep-alive answer from etcd within \(timeout)")))
                }
                state.waiters[lease, default: FIFO()].append(Waiter(token: token, continuation: continuation, timer: timer))
                return nil
            }
            if let failure {
                continuation.resume(returning: .failure(failure))
                return
            }
            outbox.yield(lease)
        }
    }

    private func deliver(_ response: Etcdserverpb_LeaseKeepAliveResponse) {
        let waiter = state.withLock { state -> Waiter? in
            guard var queue = state.waiters[response.ID] else { return nil }
            let first = queue.popFirst()
            state.waiters[response.ID] = queue.isEmpty ? nil : queue
            return first
        }
        waiter?.resume(.success(response.TTL))
    }

    /// Resumes the waiter `token` (if still waiting) with `result`.
    private func resume(_ lease: Int64, _ token: UInt64, _ result: Result<Int64, StoreError>) {
        let waiter = state.withLock { state -> Waiter? in
            guard var queue = state.waiters[lease] else { return nil }
            var kept = FIFO<Waiter>()
            var found: Waiter?
            while let waiter = queue.popFirst() {
                if waiter.token == token { found = waiter } else { kept.append(waiter) }
            }
            state.waiters[lease] = kept.isEmpty ? nil : kept
            return found
        }
        waiter?.resume(result)
    }

    /// Fails every waiter, now and later, with `error`.
    private func fail(_ error: StoreError) {
        let waiters = state.withLock { state -> [Waiter] in
            if state.failure == nil { state.failure = error }
            var all: [Waiter] = []
            for var queue in state.waiters.values {
                while let waiter = queue.popFirst() { all.append(waiter) }
            }
            state.waiters.removeAll()
            return all
        }
        for waiter in waiters { waiter.resume(.failure(error)) }
    }

    func close() {
        call.cancel()
        outbox.finish()
        for task in state.withLock({ $0.tasks }) { task.cancel() }
        fail(.unavailable(reason: "the keep-alive stream was closed"))
    }
}
