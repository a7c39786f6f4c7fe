import CapstanAPI
import Synchronization

/// The events waiting for one watcher: its initial events (the snapshot, or the replay from the
/// ring taken whole), then live events. A snapshot (`Snapshot`) is taken from the cache a page
/// at a time as the puller takes what is queued, and its objects are framed as ADDED events
/// only when taken: a watcher of a large kind that reads slowly, or not at all, holds one page,
/// and starting it costs no scan under the cache's lock. Live events are read only once the
/// snapshot and its closing BOOKMARK are queued.
///
/// A watcher of the cache reads its live events from the kind's `FanOutLog` (`Live`): the feed
/// appends each event there once, and the puller takes what its selection wants from its own
/// cursor on. The log keeps `limit` entries for all of the kind's watchers, so a watcher whose
/// unread entries were dropped takes its own events from the kind's ring instead (`recover`):
/// only when those are more than `limit`, or the ring no longer holds them, has it lost events;
/// it then ends with `watcherTooSlow` (it can resume from the last revision it received). A queue
/// without a log takes live events through `push` instead, bounded by `limit` in the same way: a
/// push that finds the queue full ends the watcher after what was queued.
///
/// The watch handler pulls with `next()` or `forEachBatch`, from one task.
final class WatcherQueue: Sendable {
    /// Where a watcher of the cache reads its live events.
    struct Live: Sendable {
        let log: FanOutLog
        /// Events at or before this revision were already covered (or are not wanted).
        let floor: Int64
        let allowBookmarks: Bool
        /// What the watcher receives of an event, given the event as it happened (nil: nothing).
        let select: @Sendable (CacheEvent, _ natural: [UInt8]) -> [UInt8]?
        /// Called when the log dropped entries this watcher had not read: what it would have
        /// received of the events after its position (`after`), taken from the kind's ring,
        /// and the log's sequence number they reach; nil when the ring no longer holds them,
        /// the watcher is no longer registered, or they are more than the queue's limit (then
        /// it is too slow).
        var recover: (@Sendable (_ after: Int64, _ limit: Int) -> Recovery?)? = nil
    }

    /// Where a watcher's initial objects come from, a page at a time.
    struct Snapshot: Sendable {
        /// Up to `limit` objects after `after` (nil: from the first), and the key to go on after
        /// (nil once all are taken); throws when the rest can no longer be had.
        let page: @Sendable (_ after: String?, _ limit: Int) async throws(RegistryError) -> (items: [CachedObject], next: String?)
        /// Queued after the last object: the BOOKMARK at the snapshot's revision.
        let end: [UInt8]
    }

    /// How far a snapshot was taken.
    private enum SnapshotProgress {
        /// More objects follow the key (nil: none taken yet).
        case pending(after: String?)
        /// All taken (or none to take).
        case done
    }

    /// A watcher's own events recovered from the ring after the log dropped entries it had not
    /// read (most of them for other watchers: other namespaces, other selections).
    struct Recovery: Sendable {
        var events: [[UInt8]]
        /// The revision of the last of `events`, or the position they were taken after.
        var revision: Int64
        /// The log's sequence number from which the watcher reads on.
        var cursor: Int
    }

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
        var snapshot = SnapshotProgress.done
        /// Revision of the newest event or bookmark queued, or else the newest the client knew when
        /// it started (0 for a watch from "now": a bookmark at the start revision is news to it).
        var lastRevision: Int64
        /// The revision of the newest log entry read, whether or not it was for this watcher: the
        /// watcher has every change of its selection up to here (where a ring recovery starts).
        var readThrough: Int64 = 0
        /// How the watch ends once `items` are delivered; nil while it goes on.
        var ending: Ending?
        /// The puller parked until something changes; it looks again when resumed.
        var waiter: UnsafeContinuation<Void, Never>?
        var cancelled = false
        /// Sequence number of the next log entry to read (with a `Live` source).
        var cursor = 0
        /// Once the watch ends: the log's end at that moment. Entries before it were queued
        /// for the watcher before it ended and are delivered first.
        var liveEnd = 0

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
            // The rest of the snapshot comes first; a watch that failed meanwhile ends after what
            // was queued, with neither the rest nor live events (which must follow the BOOKMARK).
            if case .pending = snapshot {
                if case .failed(let error)? = ending { return .failure(error) }
                return nil
            }
            if ending != nil, cursor < liveEnd { return nil }
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
    private let live: Live?
    private let snapshot: Snapshot?
    private let state: Mutex<State>

    /// A queue holding `initial`, then the objects of `snapshot`; with `live`, its live events
    /// come from that log from sequence number `cursor` on.
    init(limit: Int, initial: [Item], snapshot: Snapshot? = nil, lastRevision: Int64, live: Live? = nil, cursor: Int = 0) {
        self.limit = limit
        self.live = live
        self.snapshot = snapshot
        var state = State(lastRevision: lastRevision)
        state.items = initial
        state.initialEnd = initial.count
        state.cursor = cursor
        if snapshot != nil { state.snapshot = .pending(after: nil) }
        self.state = Mutex(state)
    }

    /// Items queued and not yet taken (for tests).
    var queuedCount: Int { state.withLock { $0.items.count - $0.head } }

    /// Resumes the puller if it is parked (the log had a new entry).
    func wake() {
        let waiter = state.withLock { Self.takeWaiter(&$0) }
        waiter?.resume()
    }

    /// The revision of the newest event queued (see `State.lastRevision`).
    var lastRevision: Int64 { state.withLock { $0.lastRevision } }

    /// The revision the watcher has every change up to: its newest event queued, or the revision
    /// it started after.
    var position: Int64 { max(lastRevision, live?.floor ?? 0) }

    /// The revision of the newest log entry this watcher read, its own or not (for tests).
    var readThroughRevision: Int64 { state.withLock { $0.readThrough } }

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

    /// Ends the watch after what is queued (including what its log holds for it by now):
    /// normally (`nil`) or with `error`.
    func end(_ error: RegistryError?) {
        // Read before taking this queue's lock: the log takes queue locks under its own.
        let logEnd = live?.log.nextSequence ?? 0
        let waiter = state.withLock { state in
            if state.ending == nil {
                state.ending = error.map(Ending.failed) ?? .finished
                state.liveEnd = logEnd
            }
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
            if let snapshot, case .pending(let after) = state.withLock({ $0.snapshot }) {
                await fill(from: snapshot, after: after, upTo: limit)
                continue
            }
            if let live {
                let (batch, progressed) = takeLive(live, upTo: limit)
                if !batch.isEmpty { return batch }
                // Entries were read but none was for this watcher: read on.
                if progressed { continue }
            }
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                let (ready, cursor) = state.withLock { state in
                    if state.head < state.items.count || state.cancelled || state.ending != nil { return (true, 0) }
                    state.waiter = continuation
                    return (false, state.cursor)
                }
                if ready {
                    continuation.resume()
                } else if let live, !live.log.park(self, cursor: cursor) {
                    // An entry arrived meanwhile: look again (unless something else woke it).
                    wake()
                }
            }
        }
    }

    /// Queues the snapshot's next page (and its BOOKMARK after the last), or ends the watch
    /// with the error that keeps it from being taken.
    private func fill(from snapshot: Snapshot, after: String?, upTo limit: Int) async {
        let page: Result<(items: [CachedObject], next: String?), RegistryError>
        do throws(RegistryError) {
            page = .success(try await snapshot.page(after, max(1, limit)))
        } catch {
            page = .failure(error)
        }
        state.withLock { state in
            guard case .pending(after) = state.snapshot else { return }
            if case .failed? = state.ending {
                state.snapshot = .done
                return
            }
            switch page {
            case .success(let page):
                state.items.append(contentsOf: page.items.map(Item.added))
                if let next = page.next {
                    state.snapshot = .pending(after: next)
                } else {
                    state.items.append(.event(snapshot.end))
                    state.snapshot = .done
                }
                state.initialEnd = state.items.count
            case .failure(let error):
                state.snapshot = .done
                if state.ending == nil {
                    state.ending = .failed(error)
                    state.liveEnd = state.cursor
                }
            }
        }
    }

    /// Reads the log from the cursor: the events for this watcher (at most `limit`), and whether
    /// the cursor moved. A cursor behind the log recovers the watcher's events from the ring
    /// (`Live.recover`), or ends the watcher with `watcherTooSlow` when they cannot be.
    private func takeLive(_ live: Live, upTo limit: Int) -> (batch: [[UInt8]], progressed: Bool) {
        let (cursor, known, through, bound) = state.withLock {
            ($0.cursor, $0.lastRevision, $0.readThrough, $0.ending == nil ? Int.max : $0.liveEnd)
        }
        guard cursor < bound else { return ([], false) }
        var batch: [[UInt8]] = []
        var lastRevision = known
        var readThrough = through
        let read = live.log.read(from: cursor, upTo: min(limit, bound - cursor)) { entry in
            switch entry {
            case .event(let event, let natural):
                readThrough = max(readThrough, event.revision)
                guard event.revision > live.floor, let bytes = live.select(event, natural) else { return }
                batch.append(bytes)
                lastRevision = max(lastRevision, event.revision)
            case .bookmark(let revision, let bytes):
                readThrough = max(readThrough, revision)
                guard live.allowBookmarks, lastRevision < revision else { return }
                batch.append(bytes)
                lastRevision = revision
            }
        }
        switch read {
        case .none:
            return ([], false)
        case .missed:
            // Entries it had not read were dropped, perhaps only other watchers' (a shared log
            // holds `limit` entries for all): it is too slow only if its own events are more.
            // From the newest entry it read, its own or not: a quiet watcher's own last event may
            // be far older than the ring.
            let from = max(position, through)
            let recovery = state.withLock { $0.ending == nil } ? live.recover?(from, self.limit) : nil
            return state.withLock { state in
                if let recovery, state.ending == nil, state.cursor == cursor {
                    // Queued, so that they are taken in batches of the puller's size.
                    state.items.append(contentsOf: recovery.events.map(Item.event))
                    state.cursor = recovery.cursor
                    state.lastRevision = max(state.lastRevision, recovery.revision)
                    state.readThrough = max(state.readThrough, recovery.revision)
                    return ([], true)
                }
                if state.ending == nil { state.ending = .failed(.watcherTooSlow(limit: self.limit)) }
                state.liveEnd = state.cursor
                return ([], true)
            }
        case .read(let next):
            state.withLock { state in
                state.cursor = next
                state.lastRevision = max(state.lastRevision, lastRevision)
                state.readThrough = max(state.readThrough, readThrough)
            }
            return (batch, true)
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
