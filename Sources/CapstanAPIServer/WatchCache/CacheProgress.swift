import Synchronization

/// How far the watch caches have caught up with the store, and how far they must be for a read
/// to see every write this server acknowledged (read-your-writes).
///
/// The feed advances `revision` after every cache has applied the events up to it. Every write
/// this server acknowledges raises `writeMark`; a read first waits until `revision` reaches it,
/// so a client that wrote revision N and then reads sees N or later.
///
/// Until the caches have listed the store (at start-up, and again after the store went back:
/// `restart`) every read waits for that listing, unless the store cannot be reached. The rule:
/// the store counts as unreachable once an attempt of the feed to list it has failed
/// (`attemptFailed`) and the feed has been trying without a listing for at least
/// `unreachableAfter` (`APIServerOptions.storeUnreachableAfter`, 1 s), counted from the start of
/// the first attempt that failed. Then the reads waiting for the listing end at once with
/// UNAVAILABLE naming the store's error, and new reads get the same answer without waiting,
/// until a listing succeeds (`advance`). So a read during a normal start (the store answers the
/// probe below, the listing takes its time) waits for the listing, and so does one during a blip that the feed's
/// next attempt (20 ms later) gets past; while the store stays down, reads are answered as soon
/// as an attempt fails a second or more into the failures (an etcd that nothing answers for:
/// its first attempt, several seconds of the store's own retries), not at their deadline.
/// Waits that are not a client's (`Patience.startUp`: the host's wait until ready) ignore the
/// rule and wait to their own timeout.
///
/// The host's store probe says when the store fails (`storeProbeFailed`) and answers again
/// (`storeProbeSucceeded`), from start-up on (so a read before the first listing against an etcd
/// that nothing answers for ends at the first failed probe, before the feed's first attempt has
/// failed). Meanwhile a read that would have to wait for the caches (for their first listing,
/// or for a write this server acknowledged whose change has not reached them: the store may have
/// lost it, or cannot deliver it) ends at once with UNAVAILABLE naming the store's failure,
/// instead of at the read wait's end; reads the caches can answer are still served, and a write
/// that must first read the store (an update, a binding) is refused at once too. Events the
/// caches apply, or a write the store acknowledges, end the rule before the next probe does;
/// the probe says again at each probe that still fails. (A store that works while the caches
/// cannot follow it is the caches' to report: the probe does not tell this rule of it.)
///
/// A write whose outcome the store could not tell (`noteUncertainWrite`: etcd lost the connection
/// after the request went out) may have been applied at a revision the caches have not reached,
/// and its client is told to read the object before repeating it. For `uncertainWindow` after
/// one (`uncertainWriteAt`), reads first ask the store for its head and wait for the caches to
/// reach it, so that read shows the write if the store has it; while the store probe fails they
/// end at once with UNAVAILABLE instead (a cached answer may be the stale one).
final class CacheProgress: Sendable {
    /// How a wait ended.
    private enum Outcome {
        case reached
        /// Its timeout passed, or its task was cancelled.
        case expired
        /// The store went back before the revision waited for (see `restart`, `forgetWrites`).
        case lost
        /// The store could not be listed (see the type's documentation): the store's error.
        case unreachable(String)
        /// The store probe failed while the read waited: its failure.
        case storeFailing(String)
    }

    /// Whether a wait ends when the store turns out unreachable before the caches listed it.
    enum Patience {
        /// A client's read: it ends with UNAVAILABLE (see the type's documentation).
        case read
        /// The host's start-up: it goes on waiting, to its own timeout.
        case startUp
    }

    private enum Waiter {
        /// Counted but not yet suspended.
        case pending(revision: Int64, Patience)
        /// Ended before it suspended.
        case ended(Outcome)
        case waiting(revision: Int64, Patience, CheckedContinuation<Outcome, Never>)
    }

    private struct State {
        /// -1 until the caches first listed the store: every read waits for that.
        var revision: Int64 = -1
        var waiters: [Int: Waiter] = [:]
        var nextWaiter = 0
        /// While the caches have not listed the store: when the feed's current run of failed
        /// attempts began (the start of its first attempt that failed).
        var failingSince: ContinuousClock.Instant?
        /// The store's latest error while it counts as unreachable (see the type's documentation).
        var unreachable: String?
        /// The store probe's failure while the store fails it (see the type's documentation).
        var probeFailure: String?
        /// When the latest write of unknown outcome failed (see the type's documentation).
        var uncertainAt: ContinuousClock.Instant?
    }

    /// How long after a write of unknown outcome reads ask the store for its head first
    /// (`APIServerOptions.uncertainReadWindow`).
    let uncertainWindow: Duration

    /// How long the feed must have been trying to list the store, with its latest attempt
    /// failed, before reads stop waiting for the listing (see the type's documentation).
    let unreachableAfter: Duration

    private let state = Mutex(State())
    private let writes = Atomic<Int64>(0)
    /// Whether `state.probeFailure` is set, readable without the lock (every write checks it).
    private let probeFailing = Atomic<Bool>(false)
    /// Whether `state.uncertainAt` is set, readable without the lock (every read checks it).
    private let uncertain = Atomic<Bool>(false)
    /// `state.revision`, readable without the lock: a read that needs nothing newer (almost
    /// every Get) checks only this.
    private let reached = Atomic<Int64>(-1)

    init(unreachableAfter: Duration = .seconds(1), uncertainWindow: Duration = .seconds(60)) {
        self.unreachableAfter = unreachableAfter
        self.uncertainWindow = uncertainWindow
    }

    /// The revision every cache has applied all events up to.
    var revision: Int64 { state.withLock { $0.revision } }

    /// The newest revision this server wrote (or must show, after a restart).
    var writeMark: Int64 { writes.load(ordering: .acquiring) }

    /// Notes a write acknowledged at `revision` (which shows the store works: see the type's
    /// documentation).
    func noteWrite(_ revision: Int64) {
        // The store took a write: it works again.
        if probeFailing.load(ordering: .relaxed) { storeProbeSucceeded() }
        var current = writes.load(ordering: .relaxed)
        while current < revision {
            let (exchanged, original) = writes.compareExchange(
                expected: current, desired: revision, ordering: .acquiringAndReleasing)
            if exchanged { return }
            current = original
        }
    }

    /// A write failed without the store knowing whether it was applied: for `uncertainWindow`,
    /// reads ask the store for its head first (see the type's documentation).
    func noteUncertainWrite() {
        state.withLock { $0.uncertainAt = .now }
        uncertain.store(true, ordering: .releasing)
    }

    /// When the latest write of unknown outcome failed, if less than `uncertainWindow` ago: a
    /// read must then wait for the caches to reach a store head taken after it. One atomic load
    /// when there was none.
    var uncertainWriteAt: ContinuousClock.Instant? {
        guard uncertain.load(ordering: .acquiring) else { return nil }
        return state.withLock { state in
            if let at = state.uncertainAt, at.duration(to: .now) < uncertainWindow { return at }
            state.uncertainAt = nil
            uncertain.store(false, ordering: .releasing)
            return nil
        }
    }

    /// Called by the feed when an attempt that began at `started` failed with `reason`. Before
    /// the caches listed the store, it may make the store count as unreachable (see the type's
    /// documentation): the reads waiting for the listing then end at once. After a listing it
    /// changes nothing (the caches fail reads themselves while the feed cannot follow the store).
    func attemptFailed(_ reason: String, started: ContinuousClock.Instant) {
        let ended: [CheckedContinuation<Outcome, Never>] = state.withLock { state in
            guard state.revision < 0 else { return [] }
            let since = min(state.failingSince ?? started, started)
            state.failingSince = since
            guard since.duration(to: .now) >= unreachableAfter else { return [] }
            state.unreachable = reason
            return Self.endReads(in: &state, with: .unreachable(reason))
        }
        for continuation in ended { continuation.resume(returning: .unreachable(reason)) }
    }

    /// The host's store probe found the store failing (`reason`): reads waiting for the caches
    /// end at once with UNAVAILABLE, and new ones that would wait do not (see the type's
    /// documentation) until `storeProbeSucceeded`.
    func storeProbeFailed(_ reason: String) {
        let ended: [CheckedContinuation<Outcome, Never>] = state.withLock { state in
            state.probeFailure = reason
            probeFailing.store(true, ordering: .relaxed)
            return Self.endReads(in: &state, with: .storeFailing(reason))
        }
        for continuation in ended { continuation.resume(returning: .storeFailing(reason)) }
    }

    /// The store probe's failure while the store fails it (see the type's documentation).
    var storeProbeFailure: String? {
        guard probeFailing.load(ordering: .relaxed) else { return nil }
        return state.withLock { $0.probeFailure }
    }

    /// The host's store probe found the store well again: reads wait for the caches as usual.
    func storeProbeSucceeded() {
        state.withLock { state in
            state.probeFailure = nil
            probeFailing.store(false, ordering: .relaxed)
        }
    }

    /// Ends every client read's wait with `outcome`: a pending one at once, a suspended one by
    /// the continuations returned (to resume outside the lock).
    private static func endReads(in state: inout State, with outcome: Outcome) -> [CheckedContinuation<Outcome, Never>] {
        var ended: [CheckedContinuation<Outcome, Never>] = []
        for (id, waiter) in state.waiters {
            switch waiter {
            case .pending(_, .read):
                state.waiters[id] = .ended(outcome)
            case .waiting(_, .read, let continuation):
                state.waiters[id] = nil
                ended.append(continuation)
            default:
                continue
            }
        }
        return ended
    }

    /// Why the store counts as unreachable now (see the type's documentation), if it does.
    var unreachableReason: String? { state.withLock { $0.unreachable } }

    /// Called by the feed once every cache applied the events up to `revision`.
    func advance(to revision: Int64) {
        let ready: [CheckedContinuation<Outcome, Never>] = state.withLock { state in
            guard revision > state.revision else { return [] }
            state.revision = revision
            state.failingSince = nil
            state.unreachable = nil
            state.probeFailure = nil
            probeFailing.store(false, ordering: .relaxed)
            reached.store(revision, ordering: .releasing)
            var ready: [CheckedContinuation<Outcome, Never>] = []
            for (id, waiter) in state.waiters {
                guard case .waiting(let wanted, _, let continuation) = waiter, wanted <= revision else { continue }
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
            // The store just answered (with its head): a new run of failures starts afresh.
            state.failingSince = nil
            state.unreachable = nil
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
            case .pending(let wanted, _) where wanted > revision:
                state.waiters[id] = .ended(.lost)
            case .waiting(let wanted, _, let continuation) where wanted > revision:
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
    nonisolated(nonsending) func waitForWrites(timeout: Duration, patience: Patience = .read) async throws(RegistryError) {
        try await wait(for: writeMark, timeout: timeout, patience: patience)
    }

    /// Waits until `revision` is reached, at most `timeout`; `unavailable` when it is not, and
    /// for a read (`patience`) at once when the store cannot be listed (see the type's
    /// documentation).
    nonisolated(nonsending) func wait(
        for revision: Int64, timeout: Duration, patience: Patience = .read
    ) async throws(RegistryError) {
        if reached.load(ordering: .acquiring) >= revision { return }
        let registered: Result<Int, RegistryError>? = state.withLock { state in
            guard state.revision < revision else { return nil }
            if case .read = patience, let reason = state.unreachable { return .failure(Self.unreachable(reason)) }
            if case .read = patience, let reason = state.probeFailure {
                return .failure(Self.storeFailing(reason, revision: revision, reached: state.revision))
            }
            state.nextWaiter += 1
            state.waiters[state.nextWaiter] = .pending(revision: revision, patience)
            return .success(state.nextWaiter)
        }
        let id: Int
        switch registered {
        case nil: return
        case .failure(let error)?: throw error
        case .success(let registered)?: id = registered
        }
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
                    switch state.waiters[id] {
                    case .pending?:
                        state.waiters[id] = .waiting(revision: revision, patience, continuation)
                        return nil
                    case .ended(let outcome)?:
                        return outcome
                    default:
                        return .expired
                    }
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            expire(id)
        }
        switch outcome {
        case .reached:
            return
        case .unreachable(let reason):
            throw Self.unreachable(reason)
        case .storeFailing(let reason):
            throw Self.storeFailing(reason, revision: revision, reached: self.revision)
        case .lost:
            throw .unavailable(
                reason: "the store went back before resource version \(revision) (an older copy replaced it); "
                    + "the watch cache follows the restored store")
        case .expired:
            if Task.isCancelled {
                throw .unavailable(reason: "the read was cancelled while waiting for the watch cache to reach resource version \(revision)")
            }
            let reached = self.revision
            guard reached >= 0 else {
                throw .unavailable(reason: "the watch cache has not listed the store yet (waited \(timeout) for it)")
            }
            throw .unavailable(reason: "the watch cache has not yet reached resource version \(revision) (it is at \(reached))")
        }
    }

    /// What a read that would wait for `revision` gets while the store probe fails.
    private static func storeFailing(_ reason: String, revision: Int64, reached: Int64) -> RegistryError {
        guard reached >= 0 else {
            return .unavailable(reason: "the watch cache has not listed the store yet, and the store is failing: \(reason)")
        }
        return .unavailable(
            reason: "the watch cache has not yet reached resource version \(revision) (it is at \(reached)), "
                + "and the store is failing: \(reason)")
    }

    /// What a read gets while the store counts as unreachable.
    private static func unreachable(_ reason: String) -> RegistryError {
        .unavailable(reason: "the watch cache has not listed the store yet, and the store cannot be reached: \(reason)")
    }

    private func expire(_ id: Int) {
        let continuation: CheckedContinuation<Outcome, Never>? = state.withLock { state in
            switch state.waiters[id] {
            case .pending?:
                state.waiters[id] = .ended(.expired)
                return nil
            case .waiting(_, _, let continuation)?:
                state.waiters[id] = nil
                return continuation
            case .ended?, nil:
                return nil
            }
        }
        continuation?.resume(returning: .expired)
    }
}
