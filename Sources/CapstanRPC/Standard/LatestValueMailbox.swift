import Synchronization

/// A single-consumer slot that keeps only the most recent value posted to it: a consumer that
/// falls behind skips intermediate values instead of queueing them, so its memory stays
/// constant however fast values change. Used for health watchers, which only need the latest status.
///
/// `post` never suspends. `next` returns the unread value, suspending while there is none; it
/// returns `nil` once the mailbox was closed (after the last posted value was read) or the
/// consuming task was cancelled.
final class LatestValueMailbox<Value: Sendable>: Sendable {
    private struct State {
        var pending: Value?
        var isClosed = false
        var isCancelled = false
        /// The suspended consumer; set only while `pending` is `nil`.
        var waiter: CheckedContinuation<Value?, Never>?
    }

    private let state = Mutex(State())

    init() {}

    /// Replaces any unread value with `value`, or hands it to the waiting consumer.
    /// Ignored once the mailbox is closed.
    func post(_ value: Value) {
        let waiter: CheckedContinuation<Value?, Never>? = state.withLock { state in
            guard !state.isClosed else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = value
            return nil
        }
        waiter?.resume(returning: value)
    }

    /// Ends the mailbox: the unread value, if any, is still delivered, then `next` returns `nil`.
    func close() {
        let waiter = state.withLock { state in
            state.isClosed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The latest unread value; `nil` once closed and drained, or when the task is cancelled.
    /// Call from one task at a time.
    func next() async -> Value? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Value?, Never>) in
                let ready: Value?? = state.withLock { state in
                    if let value = state.pending {
                        state.pending = nil
                        return .some(value)
                    }
                    if state.isClosed || state.isCancelled { return .some(nil) }
                    precondition(state.waiter == nil, "LatestValueMailbox has a single consumer")
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                state.isCancelled = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }
}
