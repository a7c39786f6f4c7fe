internal import CapstanRPC
import Synchronization

/// Whether something calls wait for is done: a client connection ready for streams (or failed),
/// a target's name resolved. Callers wait (bounded by their deadline and cancellable) until it
/// is, or until it failed.
final class ReadinessLatch: Sendable {
    private struct Waiter {
        let continuation: CheckedContinuation<Void, any Error>
        var timer: EventLoopTimer?
    }

    private struct State {
        var outcome: Result<Void, RPCError>?
        var waiters: [UInt64: Waiter] = [:]
        var nextID: UInt64 = 0
        var cancelledIDs: Set<UInt64> = []
    }

    private let state = Mutex(State())

    var outcome: Result<Void, RPCError>? { state.withLock { $0.outcome } }

    /// Waits until ready; throws the failure, `DEADLINE_EXCEEDED` at `deadline`, or
    /// `CancellationError`. The deadline timer runs on `loop`.
    func wait(deadline: ContinuousClock.Instant?, loop: EventLoop) async throws {
        let id: UInt64? = try state.withLock { (state) throws(RPCError) -> UInt64? in
            if let outcome = state.outcome { try outcome.get(); return nil }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Step { case parked, ready, failed(any Error) }
                let step: Step = state.withLock { state in
                    if state.cancelledIDs.remove(id) != nil { return .failed(CancellationError()) }
                    switch state.outcome {
                    case .success?: return .ready
                    case .failure(let error)?: return .failed(error)
                    case nil:
                        state.waiters[id] = Waiter(continuation: continuation)
                        return .parked
                    }
                }
                switch step {
                case .ready: continuation.resume()
                case .failed(let error): continuation.resume(throwing: error)
                case .parked:
                    if let deadline {
                        let timer = loop.scheduleTimer(at: deadline) { [self] in
                            // Nothing was sent: the request can be known not to have reached a server.
                            resume(id, throwing: HTTP2ClientTransport.markedUnprocessed(
                                RPCError(code: .deadlineExceeded, message: "the deadline passed while connecting")))
                        }
                        let stale = state.withLock { state -> Bool in
                            guard state.waiters[id] != nil else { return true }
                            state.waiters[id]?.timer = timer
                            return false
                        }
                        if stale { timer.cancel() }
                    }
                }
            }
        } onCancel: {
            let found = state.withLock { state -> Bool in
                if state.waiters[id] != nil { return true }
                // Not parked yet (or already resumed, which the settled outcome tells).
                if state.outcome == nil { state.cancelledIDs.insert(id) }
                return false
            }
            if found { resume(id, throwing: CancellationError()) }
        }
    }

    private func resume(_ id: UInt64, throwing error: any Error) {
        let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
        waiter?.timer?.cancel()
        waiter?.continuation.resume(throwing: error)
    }

    func succeed() {
        settle(.success(()))
    }

    func fail(_ error: RPCError) {
        settle(.failure(error))
    }

    private func settle(_ outcome: Result<Void, RPCError>) {
        let waiters: [Waiter] = state.withLock { state in
            guard state.outcome == nil else { return [] }
            state.outcome = outcome
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters {
            waiter.timer?.cancel()
            switch outcome {
            case .success: waiter.continuation.resume()
            case .failure(let error): waiter.continuation.resume(throwing: error)
            }
        }
    }
}
