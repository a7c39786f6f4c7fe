import Synchronization

/// The deadlines of a store's unary requests, enforced by one ticking task for all of them.
///
/// A gRPC call timeout costs a timer task per call (about 15 µs of CPU, a quarter of a whole Range
/// call through the HTTP/2 client); here a request registers its deadline in a table instead, and
/// a single task wakes every `tick` while requests are in flight and cancels the overdue ones. A
/// cancelled request resets its HTTP/2 stream and fails. Precision is one tick.
final class EtcdDeadlines: Sendable {
    private struct Entry {
        let deadline: ContinuousClock.Instant
        let target: any EtcdDeadlineTarget
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
        var ticking = false
    }

    private let state = Mutex(State())
    private let tick: Duration

    init(tick: Duration = .milliseconds(50)) {
        self.tick = tick
    }

    /// Cancels `target` once `deadline` has passed, unless `finish` came first. Returns the entry's id.
    func register(_ deadline: ContinuousClock.Instant, _ target: any EtcdDeadlineTarget) -> UInt64 {
        let (id, startTicking) = state.withLock { state in
            state.nextID += 1
            state.entries[state.nextID] = Entry(deadline: deadline, target: target)
            defer { state.ticking = true }
            return (state.nextID, !state.ticking)
        }
        if startTicking { Task { await self.run() } }
        return id
    }

    /// Removes the entry; false if its deadline had passed (and it was cancelled).
    func finish(_ id: UInt64) -> Bool {
        state.withLock { $0.entries.removeValue(forKey: id) } != nil
    }

    /// Ticks while entries remain, cancelling overdue ones.
    private func run() async {
        while true {
            try? await Task.sleep(for: tick)
            let now = ContinuousClock.now
            let (overdue, idle) = state.withLock { state -> ([Entry], Bool) in
                var overdue: [Entry] = []
                for (id, entry) in state.entries where entry.deadline <= now {
                    overdue.append(entry)
                    state.entries.removeValue(forKey: id)
                }
                if state.entries.isEmpty { state.ticking = false }
                return (overdue, !state.ticking)
            }
            for entry in overdue { entry.target.deadlinePassed() }
            if idle { return }
        }
    }
}

/// What a request's deadline cancels: its task, or (a read in its caller's task) its stream.
protocol EtcdDeadlineTarget: Sendable {
    func deadlinePassed()
}

extension Task: EtcdDeadlineTarget {
    func deadlinePassed() { cancel() }
}
