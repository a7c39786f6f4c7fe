import Synchronization

/// The deadlines of a store's unary requests, enforced by one ticking task for all of them.
///
/// A gRPC call timeout costs a timer task per call (about 15 µs of CPU, a quarter of a whole Range
/// call through the HTTP/2 client); here a request registers its deadline in a table instead, and
/// a single task wakes every `tick` while requests are in flight and cancels the overdue ones. A
/// cancelled request resets its HTTP/2 stream and fails. Precision is one tick.
///
/// A tick that comes much later than asked for (`lateTick`: the whole process was stopped or
/// starved, e.g. by SIGSTOP, a VM pause or heavy swapping) cancels nothing: the answers that
/// came meanwhile are still unread in the sockets, and etcd was not the one that was silent.
/// Overdue requests are cancelled a tick later, once the event loops had a turn to read them.
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
    /// How much later than `tick` a wake-up may come before it counts as the process's stall.
    static let lateTick = Duration.milliseconds(500)
    /// The clock's reading (a test's own, to make a stall without stopping the process).
    private let now: @Sendable () -> ContinuousClock.Instant

    init(tick: Duration = .milliseconds(50), now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.tick = tick
        self.now = now
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
        var lastWake = self.now()
        var spared = false
        while true {
            try? await Task.sleep(for: tick)
            let now = self.now()
            // One late tick is spared, not two in a row: a process starved for good still
            // cancels its overdue requests, one tick late.
            let spare = !spared && lastWake.duration(to: now) > tick + Self.lateTick
            spared = spare
            lastWake = now
            let (overdue, idle) = state.withLock { state -> ([Entry], Bool) in
                var overdue: [Entry] = []
                if !spare {
                    for (id, entry) in state.entries where entry.deadline <= now {
                        overdue.append(entry)
                        state.entries.removeValue(forKey: id)
                    }
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
