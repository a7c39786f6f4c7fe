/// The most recent events of one kind, oldest first, in a fixed-size circular buffer, bounded
/// both in events and in the bytes they hold.
///
/// It holds every event with a revision greater than `startRevision`: a watch resuming from any
/// revision at or after it can be served from here. Dropping the oldest events, whether for
/// count or for bytes, moves `startRevision` on; a watch from before it is `tooOld`.
///
/// The byte bound is what keeps large objects from holding memory: 10,000 updates of a pod with
/// 1 MiB of annotations would otherwise keep 10,000 versions of it. Each event is weighed by
/// `weight(of:)`; the newest event is always kept, whatever its weight.
struct EventRing: Sendable {
    let capacity: Int
    /// Most bytes the held events may weigh together (beyond the newest event).
    let byteLimit: Int
    private var storage: [CacheEvent?]
    private var head = 0
    private(set) var count = 0
    /// What the held events weigh together (`weight(of:)`).
    private(set) var bytes = 0
    /// Every event after this revision is held.
    private(set) var startRevision: Int64

    init(capacity: Int, byteLimit: Int = .max, startRevision: Int64) {
        precondition(capacity > 0, "an event ring needs room for at least one event")
        self.capacity = capacity
        self.byteLimit = byteLimit
        self.storage = Array(repeating: nil, count: capacity)
        self.startRevision = startRevision
    }

    /// The memory `event` keeps alive while held: the object before and after the change (for a
    /// delete, the copy it reports), one encoding as an event (made once watchers receive it)
    /// and the event itself. A version shared by neighbouring events is counted in each. Not
    /// counted: the second encoding of a change that takes an object out of some watchers'
    /// selectors (a DELETED for them, besides the MODIFIED for others).
    static func weight(of event: CacheEvent) -> Int {
        let previous = event.previous?.bytes.count ?? 0
        let after = event.current?.bytes.count ?? event.deleted?.bytes.count ?? 0
        return 256 + event.key.utf8.count + previous + 2 * after
    }

    /// Appends `event` (revisions must increase), dropping the oldest while the ring holds more
    /// than `capacity` events or more than `byteLimit` bytes.
    mutating func append(_ event: CacheEvent) {
        if count == capacity { dropOldest() }
        storage[(head + count) % capacity] = event
        count += 1
        bytes += Self.weight(of: event)
        while bytes > byteLimit && count > 1 { dropOldest() }
    }

    private mutating func dropOldest() {
        guard let oldest = storage[head] else { return }
        startRevision = oldest.revision
        bytes -= Self.weight(of: oldest)
        storage[head] = nil
        head = (head + 1) % capacity
        count -= 1
    }

    /// The event at position `index` (0 = oldest).
    subscript(index: Int) -> CacheEvent {
        storage[(head + index) % capacity]!
    }

    /// Every held event after `revision`, oldest first; nil when events after `revision` were
    /// already dropped.
    func events(after revision: Int64) -> [CacheEvent]? {
        guard revision >= startRevision else { return nil }
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if self[middle].revision <= revision { low = middle + 1 } else { high = middle }
        }
        return (low..<count).map { self[$0] }
    }
}
