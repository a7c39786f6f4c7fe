import Synchronization

/// The live events of one kind, in order, shared by all of the kind's watchers: the fan-out.
///
/// The feed appends each event once (with its encoding as it happened, made once); it does not
/// visit the watchers. Each watcher reads the entries after its own cursor when its task runs,
/// picks what its selection wants and writes that as one batch. A watcher that found nothing
/// parks here, and the next append hands back the parked watchers to be woken (outside the
/// cache's locks). So the feed's cost per event does not grow with the watchers that are busy
/// or already woken, and a watcher that runs less often than events arrive takes many at once.
///
/// The log keeps the newest `capacity` entries, and no more than `byteLimit` bytes of them
/// (weighed as the ring weighs events; the newest entry is always kept). A watcher whose cursor fell behind the oldest
/// entry kept has missed entries, though perhaps none for it: `WatcherQueue` then takes its own
/// events from the kind's ring, and ends it with RESOURCE_EXHAUSTED only when those are more
/// than its limit (it resumes from the last revision it received).
final class FanOutLog: Sendable {
    /// One entry: an event, or a periodic bookmark.
    enum Entry: Sendable {
        /// The event and what a watcher without selectors receives of it.
        case event(CacheEvent, natural: [UInt8])
        /// A BOOKMARK at `revision`, for watchers that allow them and were not told of it yet.
        case bookmark(revision: Int64, bytes: [UInt8])
    }

    /// What a read found.
    enum Read {
        /// Entries were read; the cursor after them.
        case read(next: Int)
        /// Nothing after the cursor yet.
        case none
        /// Entries after the cursor were dropped (the watcher then recovers its own from the ring,
        /// or is too slow).
        case missed
    }

    private struct State {
        var entries: [Entry?]
        /// Index in `entries` of the oldest entry kept.
        var head = 0
        var count = 0
        /// Sequence number the next entry gets; the oldest kept has `next - count`.
        var next = 0
        /// What the kept entries weigh together (`weight(of:)`).
        var bytes = 0
        /// Watchers waiting for the next entry.
        var parked: [WatcherQueue] = []
        /// At this many parked, the ended ones are dropped (when no entry comes for a long time
        /// while watches start and stop, the list would otherwise only grow).
        var pruneAt = 1_024
    }

    let capacity: Int
    /// Most bytes the kept entries may weigh together (beyond the newest).
    let byteLimit: Int
    private let state: Mutex<State>

    init(capacity: Int, byteLimit: Int = .max) {
        precondition(capacity > 0, "a fan-out log needs room for at least one entry")
        self.capacity = capacity
        self.byteLimit = byteLimit
        state = Mutex(State(entries: Array(repeating: nil, count: capacity)))
    }

    /// The memory an entry keeps alive: its event's (`EventRing.weight(of:)`, which counts the
    /// event's encoding) or its bookmark's bytes.
    static func weight(of entry: Entry) -> Int {
        switch entry {
        case .event(let event, _): EventRing.weight(of: event)
        case .bookmark(_, let bytes): 64 + bytes.count
        }
    }

    /// What the kept entries weigh (for tests).
    var bytes: Int { state.withLock { $0.bytes } }

    /// How many watchers are parked (for tests).
    var parkedCount: Int { state.withLock { $0.parked.count } }

    /// The sequence number of the next entry: where a watcher starting now begins to read.
    var nextSequence: Int { state.withLock { $0.next } }

    /// Appends `entry`, dropping the oldest while the log holds more than `capacity` entries or
    /// more than `byteLimit` bytes. Returns the parked watchers: the caller wakes them
    /// (`WatcherQueue.wake()`) once it holds no lock.
    func append(_ entry: Entry) -> [WatcherQueue] {
        state.withLock { state in
            if state.count == capacity { dropOldest(&state) }
            state.entries[(state.head + state.count) % capacity] = entry
            state.count += 1
            state.next += 1
            state.bytes += Self.weight(of: entry)
            while state.bytes > byteLimit && state.count > 1 { dropOldest(&state) }
            guard !state.parked.isEmpty else { return [] }
            var parked: [WatcherQueue] = []
            swap(&parked, &state.parked)
            state.pruneAt = 1_024
            return parked
        }
    }

    private func dropOldest(_ state: inout State) {
        guard let oldest = state.entries[state.head] else { return }
        state.bytes -= Self.weight(of: oldest)
        state.entries[state.head] = nil
        state.head = (state.head + 1) % capacity
        state.count -= 1
    }

    /// Forgets the parked watchers that ended (a parked queue and the log hold each other until
    /// the next append), or all of them.
    func releaseParked(all: Bool = false) {
        let released: [WatcherQueue] = state.withLock { state in
            var kept: [WatcherQueue] = []
            if !all { kept = state.parked.filter { !$0.isEnded } }
            swap(&kept, &state.parked)
            return kept
        }
        _ = released
    }

    /// Reads up to `limit` entries from sequence number `cursor` on, handing each to `body`
    /// in order. `body` runs under the log's lock (appends wait for it): it must be short and
    /// must not call back into the log. Reading in place spares copying the entries out, which
    /// for thousands of watchers reading the same entries is most of the cost.
    func read(from cursor: Int, upTo limit: Int, _ body: (Entry) -> Void) -> Read {
        state.withLock { state in
            let oldest = state.next - state.count
            if cursor < oldest { return .missed }
            let available = state.next - cursor
            if available <= 0 { return .none }
            let taking = min(available, max(1, limit))
            var index = (state.head + (cursor - oldest)) % capacity
            for _ in 0..<taking {
                body(state.entries[index]!)
                index += 1
                if index == capacity { index = 0 }
            }
            return .read(next: cursor + taking)
        }
    }

    /// Parks `queue` until the next append, unless an entry at `cursor` or later exists already
    /// (then returns false and does not park it). Takes the queue's lock (`isEnded`): a queue
    /// never calls into the log while holding its own.
    func park(_ queue: WatcherQueue, cursor: Int) -> Bool {
        state.withLock { state in
            if state.next > cursor || cursor < state.next - state.count { return false }
            if state.parked.count >= state.pruneAt {
                state.parked.removeAll { $0.isEnded }
                state.pruneAt = max(1_024, state.parked.count * 2)
            }
            state.parked.append(queue)
            return true
        }
    }
}
