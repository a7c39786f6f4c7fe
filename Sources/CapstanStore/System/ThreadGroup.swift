import Synchronization

/// Counts running threads so an async caller can wait until every one has finished.
final class ThreadGroup: Sendable {
    private struct State {
        var running = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Starts `body` on a new thread counted by this group.
    func start(name: String, _ body: sending @escaping () -> Void) {
        adopt()
        startThread(name: name) { [self] in
            body()
            finished()
        }
    }

    /// Counts the calling thread as one of the group's, until it calls `finished()`.
    func adopt() {
        state.withLock { $0.running += 1 }
    }

    func finished() {
        let waiters = state.withLock { state in
            state.running -= 1
            guard state.running == 0 else { return [CheckedContinuation<Void, Never>]() }
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once no thread of the group is running.
    func waitUntilFinished() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let finished = state.withLock { state in
                if state.running == 0 { return true }
                state.waiters.append(continuation)
                return false
            }
            if finished { continuation.resume() }
        }
    }
}
