import CapstanAPI
import Synchronization

/// The events waiting for one watcher: its initial events (the snapshot or the replay from the
/// ring, taken whole), then live events in a queue bounded by `limit`. A snapshot's objects are
/// kept as references and framed as ADDED events only when taken, so a large initial listing
/// costs no copy up front.
///
/// The cache pushes under its own lock; the watch handler pulls with `next()`. A push that finds
/// the live queue full ends the watcher: it still receives what was queued, then
/// `watcherTooSlow`, and can resume from the last revision it received.
final class WatcherQueue: Sendable {
    /// One queued event.
    enum Item: Sendable {
        /// An encoded `<Kind>Event`.
        case event([UInt8])
        /// An object of the initial snapshot, to be sent as ADDED.
        case added(CachedObject)

        var bytes: [UInt8] {
            switch self {
            case .event(let bytes): bytes
            case .added(let object): ProtoBytes.event(type: EventType.added.rawValue, object: object.bytes)
            }
        }
    }

    private struct State {
        var items: [Item] = []
        var head = 0
        /// Items before this index are initial events, which do not count against the limit.
        var initialEnd = 0
        /// Revision of the newest event queued (or the revision the watch started after).
        var lastRevision: Int64
        /// How the watch ends once `items` are delivered; nil while it goes on.
        var ending: Ending?
        var waiter: CheckedContinuation<[[UInt8]]?, any Error>?
        var cancelled = false

        var liveCount: Int { items.count - max(head, initialEnd) }
    }

    enum Ending: Sendable {
        case finished
        case failed(RegistryError)
    }

    let limit: Int
    private let state: Mutex<State>

    init(limit: Int, initial: [Item], lastRevision: Int64) {
        self.limit = limit
        var state = State(lastRevision: lastRevision)
        state.items = initial
        state.initialEnd = initial.count
        self.state = Mutex(state)
    }

    /// The revision of the newest event queued.
    var lastRevision: Int64 { state.withLock { $0.lastRevision } }

    /// Whether the watch has ended or been cancelled (the cache drops it).
    var isEnded: Bool { state.withLock { $0.ending != nil || $0.cancelled } }

    /// Queues an event at `revision`. Returns false when the watcher is (now) ended: it overflowed
    /// or was cancelled; the cache then forgets it.
    @discardableResult
    func push(_ bytes: [UInt8], revision: Int64, countsAgainstLimit: Bool = true) -> Bool {
        let (waiter, alive): (CheckedContinuation<[[UInt8]]?, any Error>?, Bool) = state.withLock { state in
            guard state.ending == nil, !state.cancelled else { return (nil, false) }
            if countsAgainstLimit && state.liveCount >= limit {
                state.ending = .failed(.watcherTooSlow(limit: limit))
                return (nil, false)
            }
            state.lastRevision = max(state.lastRevision, revision)
            if let waiter = state.waiter {
                state.waiter = nil
                return (waiter, true)
            }
            state.items.append(.event(bytes))
            return (nil, true)
        }
        waiter?.resume(returning: [bytes])
        return alive
    }

    /// Ends the watch after what is queued: normally (`nil`) or with `error`.
    func end(_ error: RegistryError?) {
        let waiter: CheckedContinuation<[[UInt8]]?, any Error>? = state.withLock { state in
            if state.ending == nil { state.ending = error.map(Ending.failed) ?? .finished }
            guard state.head == state.items.count, let waiter = state.waiter else { return nil }
            state.waiter = nil
            return waiter
        }
        guard let waiter else { return }
        if let error { waiter.resume(throwing: error) } else { waiter.resume(returning: nil) }
    }

    /// The next event's bytes; nil when the watch finished or the task was cancelled; throws the
    /// error it ended with once every queued event was taken.
    func next() async throws -> [UInt8]? {
        try await next(upTo: 1)?.first
    }

    /// Up to `limit` queued events in order, waiting for one when none is queued; nil when the
    /// watch finished or the task was cancelled; throws the error it ended with once every
    /// queued event was taken. Taking what is queued in one step spares the handler a
    /// suspension per event when events arrive faster than they are written (a fan-out).
    func next(upTo limit: Int) async throws -> [[UInt8]]? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[[UInt8]]?, any Error>) in
                let result: Result<[Item]?, RegistryError>? = state.withLock { state in
                    if state.head < state.items.count {
                        let end = min(state.items.count, state.head + max(1, limit))
                        let items = Array(state.items[state.head..<end])
                        state.head = end
                        if state.head > 64 && state.head * 2 > state.items.count {
                            state.items.removeFirst(state.head)
                            state.initialEnd = max(0, state.initialEnd - state.head)
                            state.head = 0
                        }
                        return .success(items)
                    }
                    if state.cancelled { return .success(nil) }
                    switch state.ending {
                    case .finished?: return .success(nil)
                    case .failed(let error)?: return .failure(error)
                    case nil:
                        state.waiter = continuation
                        return nil
                    }
                }
                if let result { continuation.resume(with: result.map { $0?.map(\.bytes) }) }
            }
        } onCancel: {
            cancel()
        }
    }

    /// Stops the watch: a waiting `next()` returns nil.
    func cancel() {
        let waiter = state.withLock { state in
            state.cancelled = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }
}
