import Synchronization

/// Fans committed batches out to live watchers, in memory.
///
/// `published` is the revision of the last batch handed out; every revision up to it is committed
/// and visible to new read transactions. A watcher joins only when it has read the table up to
/// `published` (checked under this lock), so it gets each later batch exactly once.
/// Lock order: hub, then watcher.
final class WatchHub: Sendable {
    private struct State {
        var published: Int64
        var live: [UInt64: LogWatcher] = [:]
        var nextID: UInt64 = 1
        var closed: StoreError?
    }

    private let state: Mutex<State>

    init(published: Int64) {
        state = Mutex(State(published: published))
    }

    var published: Int64 { state.withLock { $0.published } }

    var liveCount: Int { state.withLock { $0.live.count } }

    func makeID() -> UInt64 {
        state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
    }

    /// Records a committed batch (events in revision order, ending at `revision`) and offers it to
    /// every live watcher; called by the writer after COMMIT, before acknowledging.
    func publish(_ events: [WatchEvent], through revision: Int64) {
        var wakeups: [CheckedContinuation<Void, Never>] = []
        state.withLock { state in
            let previous = state.published
            state.published = revision
            guard !events.isEmpty else { return }
            for (id, watcher) in state.live {
                let outcome = watcher.offer(events, previouslyPublished: previous)
                if let wakeup = outcome.wakeup { wakeups.append(wakeup) }
                if !outcome.stayLive { state.live.removeValue(forKey: id) }
            }
        }
        for wakeup in wakeups { wakeup.resume() }
    }

    /// Makes `watcher` live if it has read everything through `scanned` and nothing newer has been
    /// published (or it waits for a future revision). Returns false when it must read more first.
    func join(_ watcher: LogWatcher, scanned: Int64) throws(StoreError) -> Bool {
        try state.withLock { state throws(StoreError) in
            if let closed = state.closed { throw closed }
            guard state.published <= scanned else { return false }
            if watcher.becomeLive() { state.live[watcher.id] = watcher }
            return true
        }
    }

    func remove(_ id: UInt64) {
        _ = state.withLock { $0.live.removeValue(forKey: id) }
    }

    /// Ends every live watcher with `error`; later joins fail with it.
    func close(_ error: StoreError) {
        let watchers = state.withLock { state in
            state.closed = error
            defer { state.live = [:] }
            return Array(state.live.values)
        }
        for watcher in watchers { watcher.fail(error) }
    }
}
