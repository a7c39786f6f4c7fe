import Synchronization

/// How far the watch caches have caught up with the store, and how far they must be for a read
/// to see every write this server acknowledged (read-your-writes).
///
/// The feed advances `revision` after every cache has applied the events up to it. Every write
/// this server acknowledges raises `writeMark`; a read first waits until `revision` reaches it,
/// so a client that wrote revision N and then reads sees N or later.
final class CacheProgress: Sendable {
    /// How a wait ended.
    private enum Outcome {
        case reached
        /// Its timeout passed, or its task was cancelled.
        case expired
        /// The store went back before the revision waited for (see `restart`, `forgetWrites`).
        case lost
    }

    private enum Waiter {
        /// Counted but not yet suspended.
        case pending(revision: Int64)
        /// Ended before it suspended.
        case ended(Outcome)
        case waiting(revision: Int64, CheckedContinuation<Outcome, Never>)
    }

    private struct State {
        /// -1 until the caches first listed the store: every read waits for that.
        var revision: Int64 = -1
        var waiters: [Int: Waiter] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())
    private let writes = Atomic<Int64>(0)
    /// `state.revision`, readable without the lock: a read that needs nothing newer (almost
    /// every Get) checks only this.
    private let reached = Atomic<Int64>(-1)

    /// The revision every cache has applied all events up to.
    var revision: Int64 { state.withLock { $0.revision } }

    /// The newest revision this server wrote (or must show, after a restart).
    var writeMark: Int64 { writes.load(ordering: .acquiring) }

    /// Notes a write acknowledged at `revision`.
    func noteWrite(_ revision: Int64) {
        var current = writes.load(ordering: .relaxed)
        while current < revision {
            let (exchanged, original) = writes.compareExchange(
                expected: current, desired: revision, ordering: .acquiringAndReleasing)
            if exchanged { return }
            current = original
        }
    }

    /// Called by the feed once every cache applied the events up to `revision`.
    func advance(to revision: Int64) {
        let ready: [CheckedContinuation<Outcome, Never>] = state.withLock { state in
            guard revision > state.revision else { return [] }
            state.revision = revision
            reached.store(revision, ordering: .releasing)
            var ready: [CheckedContinuation<Outcome, Never>] = []
            for (id, waiter) in state.waiters {
                guard case .waiting(let wanted, let continuation) = waiter, wanted <= revision else { continue }
                state.waiters[id] = nil
                ready.append(continuation)
            }
            return ready
        }
        for continuation in ready { continuation.resume(returning: .reached) }
    }

    /// The store went back before the revision reached (an older copy replaced it): forgets that
    /// revision and the write mark, which belong to a history that is gone. Reads wait until the
    /// caches have listed the store again (`advance`); the listing notes the new head as the mark.
    /// Reads waiting meanwhile (all for revisions past the one reached, so of the lost history)
    /// end at once with `unavailable` (retryable) instead of at their timeout.
    func restart() {
        let lost = state.withLock { state in
            state.revision = -1
            reached.store(-1, ordering: .releasing)
            return Self.endWaiters(above: -1, in: &state)
        }
        writes.store(0, ordering: .releasing)
        for continuation in lost { continuation.resume(returning: .lost) }
    }

    /// The store went back to `head`, behind the write mark but not behind the revision the
    /// caches reached (an older copy replaced it before the caches had applied this server's
    /// latest writes): lowers the mark to `head`. The writes above it are gone with the history
    /// they were in, and no event will bring the caches to them (later writes reuse their
    /// revisions for other changes), so a read waiting for them would wait until its timeout:
    /// reads waiting for a revision above `head` end at once with `unavailable` (retryable; a
    /// read that took the old mark just before and registers its wait just after still waits
    /// for it). The caller marks the store's head afresh afterwards: a write the restored store
    /// acknowledged while the mark was lowered is at or below that head.
    func forgetWrites(above head: Int64) {
        var current = writes.load(ordering: .relaxed)
        while current > head {
            let (exchanged, original) = writes.compareExchange(
                expected: current, desired: head, ordering: .acquiringAndReleasing)
            if exchanged { break }
            current = original
        }
        let lost = state.withLock { Self.endWaiters(above: head, in: &$0) }
        for continuation in lost { continuation.resume(returning: .lost) }
    }

    /// Ends the waits for revisions above `revision` as lost; returns the suspended ones, to be
    /// resumed outside the lock.
    private static func endWaiters(above revision: Int64, in state: inout State) -> [CheckedContinuation<Outcome, Never>] {
        var lost: [CheckedContinuation<Outcome, Never>] = []
        for (id, waiter) in state.waiters {
            switch waiter {
            case .pending(let wanted) where wanted > revision:
                state.waiters[id] = .ended(.lost)
            case .waiting(let wanted, let continuation) where wanted > revision:
                state.waiters[id] = nil
                lost.append(continuation)
            default:
                continue
            }
        }
        return lost
    }

    /// How many reads wait (for tests).
    var waitingReads: Int { state.withLock { $0.waiters.count } }

    /// Whether every cache has applied the events up to `revision`.
    func hasReached(_ revision: Int64) -> Bool {
        reached.load(ordering: .acquiring) >= revision
    }

    /// Whether the caches already reached every write this server acknowledged: a read may be
    /// served now, without `waitForWrites`.
    var hasReachedWrites: Bool {
        reached.load(ordering: .acquiring) >= writeMark
    }

    /// Waits until the caches reach every write this server acknowledged.
    nonisolated(nonsending) func waitForWrites(timeout: Duration) async throws(RegistryError) {
        try await wait(for: writeMark, timeout: timeout)
    }

    /// Waits until `revision` is reached, at most `timeout`; `unavailable` when it is not.
    nonisolated(nonsending) func wait(for revision: Int64, timeout: Duration) async throws(RegistryError) {
        if reached.load(ordering: .acquiring) >= revision { return }
        let id: Int? = state.withLock { state in
            guard state.revision < revision else { return nil }
            state.nextWaiter += 1
            state.waiters[state.nextWaiter] = .pending(revision: revision)
            return state.nextWaiter
        }
        guard let id else { return }
        let timer = Task { [weak self] in
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            self?.expire(id)
        }
        defer {
            timer.cancel()
            state.withLock { _ = $0.waiters.removeValue(forKey: id) }
        }
        // A cancelled read (its client went away, or its deadline passed) stops waiting at once
        // rather than holding its task until the timeout.
        let outcome = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
                let immediate: Outcome? = state.withLock { state in
                    // Lost first: the revision may come again, in the history that replaced it.
                    if case .ended(.lost)? = state.waiters[id] { return .lost }
                    if state.revision >= revision { return .reached }
                    guard case .pending? = state.waiters[id] else { return .expired }
                    state.waiters[id] = .waiting(revision: revision, continuation)
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            expire(id)
        }
        switch outcome {
        case .reached:
            return
        case .lost:
            throw .unavailable(
                reason: "the store went back before resource version \(revision) (an older copy replaced it); "
                    + "the watch cache follows the restored store")
        case .expired:
            if Task.isCancelled {
                throw .unavailable(reason: "the read was cancelled while waiting for the watch cache to reach resource version \(revision)")
            }
            throw .unavailable(reason: "the watch cache has not yet reached resource version \(revision) (it is at \(self.revision))")
        }
    }

    private func expire(_ id: Int) {
        let continuation: CheckedContinuation<Outcome, Never>? = state.withLock { state in
            switch state.waiters[id] {
            case .pending?:
                state.waiters[id] = .ended(.expired)
                return nil
            case .waiting(_, let continuation)?:
                state.waiters[id] = nil
                return continuation
            case .ended?, nil:
                return nil
            }
        }
        continuation?.resume(returning: .expired)
    }
}
