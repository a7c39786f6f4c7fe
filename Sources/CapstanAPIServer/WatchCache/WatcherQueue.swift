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
        /// The puller parked until something changes; it looks again when resumed.
        var waiter: UnsafeContinuation<Void, Never>?
        var cancelled = false

        var liveCount: Int { items.count - max(head, initialEnd) }

        /// Takes up to `limit` queued items (at least one), or says how the watch ends, or nil
        /// when there is nothing to take yet.
        mutating func take(upTo limit: Int) -> Result<[Item]?, RegistryError>? {
            if head < items.count {
                let end = min(items.count, head + max(1, limit))
                let taken = Array(items[head..<end])
                head = end
                if head == items.count {
                    items.removeAll(keepingCapacity: items.capacity <= 256)
                    initialEnd = 0
                    head = 0
                } else if head > 64 && head * 2 > items.count {
                    items.removeFirst(head)
                    initialEnd = max(0, initialEnd - head)
                    head = 0
                }
                return .success(taken)
            }
            if cancelled { return .success(nil) }
            switch ending {
            case .finished?: return .success(nil)
            case .failed(let error)?: return .failure(error)
            case nil: return nil
            }
        }
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
        let (waiter, alive): (UnsafeContinuation<Void, Never>?, Bool) = state.withLock { state in
            guard state.ending == nil, !state.cancelled else { return (nil, false) }
            if countsAgainstLimit && state.liveCount >= limit {
                state.ending = .failed(.watcherTooSlow(limit: limit))
                return (Self.takeWaiter(&state), false)
            }
            state.lastRevision = max(state.lastRevision, revision)
            // The event is queued even when the puller waits: it takes whatever the queue
            // holds once it runs, so events pushed before then travel in the same batch.
            state.items.append(.event(bytes))
            return (Self.takeWaiter(&state), true)
        }
        waiter?.resume()
        return alive
    }

    /// Ends the watch after what is queued: normally (`nil`) or with `error`.
    func end(_ error: RegistryError?) {
        let waiter = state.withLock { state in
            if state.ending == nil { state.ending = error.map(Ending.failed) ?? .finished }
            return Self.takeWaiter(&state)
        }
        waiter?.resume()
    }

    /// The bytes of each item, in order.
    private static func bytes(_ items: [Item]) -> [[UInt8]] {
        var bytes: [[UInt8]] = []
        bytes.reserveCapacity(items.count)
        for item in items { bytes.append(item.bytes) }
        return bytes
    }

    private static func takeWaiter(_ state: inout State) -> UnsafeContinuation<Void, Never>? {
        defer { state.waiter = nil }
        return state.waiter
    }

    /// The next event's bytes; nil when the watch finished or the task was cancelled; throws the
    /// error it ended with once every queued event was taken.
    func next() async throws -> [UInt8]? {
        try await next(upTo: 1)?.first
    }

    /// Up to `limit` queued events in order, waiting for one when none is queued; nil when the
    /// watch finished or the task was cancelled; throws the error it ended with once every
    /// queued event was taken.
    func next(upTo limit: Int) async throws -> [[UInt8]]? {
        if let result = state.withLock({ $0.take(upTo: limit) }) { return try result.get().map(Self.bytes) }
        return try await withTaskCancellationHandler {
            try await wait(upTo: limit)
        } onCancel: {
            cancel()
        }
    }

    /// Hands batches of up to `limit` queued events, in order, to `body` until the watch
    /// finishes or the task is cancelled (then it returns), or it failed (then it throws the
    /// error once every queued event was handed over). Each wake-up takes what the queue holds
    /// by then, so a watcher falling behind a burst catches up in few batches, and the
    /// cancellation handler is installed once for the whole watch rather than per wait.
    func forEachBatch(upTo limit: Int, _ body: ([[UInt8]]) async throws -> Void) async throws {
        try await withTaskCancellationHandler {
            while let batch = try await wait(upTo: limit) {
                try await body(batch)
            }
        } onCancel: {
            cancel()
        }
    }

    /// Takes up to `limit` events, parking until there are some; the caller handles cancellation.
    private func wait(upTo limit: Int) async throws -> [[UInt8]]? {
        while true {
            if let result = state.withLock({ $0.take(upTo: limit) }) { return try result.get().map(Self.bytes) }
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                let ready = state.withLock { state in
                    if state.head < state.items.count || state.cancelled || state.ending != nil { return true }
                    state.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        }
    }

    /// Stops the watch: a waiting `next()` returns nil.
    func cancel() {
        let waiter = state.withLock { state in
            state.cancelled = true
            return Self.takeWaiter(&state)
        }
        waiter?.resume()
    }
}
