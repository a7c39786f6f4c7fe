import Synchronization

/// One watch on the SQLite store: reads its backlog from the log table as the consumer pulls, then
/// follows the hub's live batches through a bounded queue.
///
/// Phases: `catchingUp(scanned)` (everything matching through revision `scanned` is queued or
/// delivered; rows after it come from the table), `live` (the hub appends batches), `failed`,
/// `ended`. A live watcher whose queue would exceed `capacity` drops back to `catchingUp` at the
/// last revision it fully received, leaving the hub; its consumer first drains the queue, then reads
/// what it missed from the table — nothing is lost, memory stays bounded, and a consumer that stays
/// behind past the retention window gets `compacted`.
final class LogWatcher: WatchEventSource {
    enum Phase {
        case catchingUp(scanned: Int64)
        case live
        case failed(StoreError)
        case ended
    }

    private struct State {
        var queue = FIFO<WatchEvent>()
        var phase: Phase
        var waiter: CheckedContinuation<Void, Never>?
    }

    /// Reads rows with revision in `(after, through]` and a key in the watched range, at most
    /// `limit`, after checking that `after` is not compacted.
    typealias HistoryReader = @Sendable (_ after: Int64, _ through: Int64, _ limit: Int) async throws(StoreError) ->
        [WatchEvent]

    let id: UInt64
    private let prefix: [UInt8]
    private let fromRevision: Int64
    private let capacity: Int
    private let chunk: Int
    private let hub: WatchHub
    private let readHistory: HistoryReader
    private let state: Mutex<State>

    init(
        id: UInt64, prefix: String, fromRevision: Int64, capacity: Int, chunk: Int, hub: WatchHub,
        readHistory: @escaping HistoryReader
    ) {
        self.id = id
        self.prefix = Array(prefix.utf8)
        self.fromRevision = fromRevision
        self.capacity = max(1, capacity)
        self.chunk = max(1, chunk)
        self.hub = hub
        self.readHistory = readHistory
        self.state = Mutex(State(phase: .catchingUp(scanned: fromRevision)))
    }

    /// Events queued now (for tests).
    var queuedCount: Int { state.withLock { $0.queue.count } }

    var isLive: Bool {
        state.withLock { if case .live = $0.phase { true } else { false } }
    }

    // MARK: Consumer side

    private enum Step {
        case deliver([WatchEvent])
        case fail(StoreError)
        case end
        case catchUp(Int64)
        case wait
    }

    func next() async throws(StoreError) -> WatchEvent? {
        try await take(limit: 1)?.first
    }

    func nextBatch(limit: Int) async throws(StoreError) -> [WatchEvent]? {
        try await take(limit: limit)
    }

    /// Up to `limit` queued events (at least one), taken under one lock; nil once ended.
    private func take(limit: Int) async throws(StoreError) -> [WatchEvent]? {
        // Each pass delivers, ends, reads one chunk of history (advancing `scanned`) or waits for the
        // hub; it never spins.
        while true {
            if Task.isCancelled {
                cancel()
                return nil
            }
            let step: Step = state.withLock { state in
                if !state.queue.isEmpty { return .deliver(state.queue.popFirst(upTo: limit)) }
                switch state.phase {
                case .failed(let error):
                    state.phase = .ended
                    return .fail(error)
                case .ended: return .end
                case .catchingUp(let scanned): return .catchUp(scanned)
                case .live: return .wait
                }
            }
            switch step {
            case .deliver(let events): return events
            case .fail(let error):
                hub.remove(id)
                throw error
            case .end: return nil
            case .catchUp(let scanned):
                do throws(StoreError) {
                    try await catchUp(from: scanned)
                } catch {
                    fail(error)
                }
            case .wait:
                await waitForLiveEvents()
            }
        }
    }

    /// Reads the next chunk of history after `scanned`, or joins the hub when there is none.
    private func catchUp(from scanned: Int64) async throws(StoreError) {
        let target = hub.published
        if scanned >= target {
            _ = try hub.join(self, scanned: scanned)
            return
        }
        let events = try await readHistory(scanned, target, chunk)
        let reached = events.count >= chunk ? events[events.count - 1].revision : target
        state.withLock { state in
            guard case .catchingUp = state.phase else { return }
            state.queue.append(contentsOf: events)
            state.phase = .catchingUp(scanned: reached)
        }
    }

    private func waitForLiveEvents() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state in
                    guard state.queue.isEmpty, case .live = state.phase, !Task.isCancelled else { return true }
                    state.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }?.resume()
        }
    }

    func cancel() {
        let waiter = state.withLock { state in
            state.phase = .ended
            state.queue.removeAll()
            defer { state.waiter = nil }
            return state.waiter
        }
        hub.remove(id)
        waiter?.resume()
    }

    /// Ends the watch with `error` after the events already queued.
    func fail(_ error: StoreError) {
        let waiter = state.withLock { state in
            if case .ended = state.phase { return nil as CheckedContinuation<Void, Never>? }
            state.phase = .failed(error)
            defer { state.waiter = nil }
            return state.waiter
        }
        hub.remove(id)
        waiter?.resume()
    }

    // MARK: Hub side (called with the hub's lock held)

    /// Switches from catching up to live; false if the watch has ended meanwhile.
    func becomeLive() -> Bool {
        state.withLock { state in
            guard case .catchingUp = state.phase else { return false }
            state.phase = .live
            return true
        }
    }

    /// Queues the batch's matching events, or drops back to catching up when they do not fit.
    func offer(_ events: [WatchEvent], previouslyPublished: Int64) -> (
        wakeup: CheckedContinuation<Void, Never>?, stayLive: Bool
    ) {
        // Usually every event matches (the watch cache watches all of /registry/): no copy then.
        let matches = { (event: WatchEvent) in event.revision > self.fromRevision && event.entry.key.hasBytePrefix(self.prefix) }
        let matching = events.allSatisfy(matches) ? events : events.filter(matches)
        return state.withLock { state in
            guard case .live = state.phase else { return (nil, false) }
            if matching.isEmpty { return (nil, true) }
            var stayLive = true
            if state.queue.count + matching.count > capacity {
                state.phase = .catchingUp(scanned: max(previouslyPublished, fromRevision))
                stayLive = false
            } else {
                state.queue.append(contentsOf: matching)
            }
            defer { state.waiter = nil }
            return (state.waiter, stayLive)
        }
    }
}
