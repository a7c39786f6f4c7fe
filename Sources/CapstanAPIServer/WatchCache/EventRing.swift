/// The most recent events of one kind, oldest first, in a fixed-size circular buffer.
///
/// It holds every event with a revision greater than `startRevision`: a watch resuming from any
/// revision at or after it can be served from here.
struct EventRing: Sendable {
    let capacity: Int
    private var storage: [CacheEvent?]
    private var head = 0
    private(set) var count = 0
    /// Every event after this revision is held.
    private(set) var startRevision: Int64

    init(capacity: Int, startRevision: Int64) {
        precondition(capacity > 0, "an event ring needs room for at least one event")
        self.capacity = capacity
        self.storage = Array(repeating: nil, count: capacity)
        self.startRevision = startRevision
    }

    /// Appends `event` (revisions must increase), dropping the oldest when full.
    mutating func append(_ event: CacheEvent) {
        if count == capacity {
            if let oldest = storage[head] { startRevision = oldest.revision }
            storage[head] = event
            head = (head + 1) % capacity
        } else {
            storage[(head + count) % capacity] = event
            count += 1
        }
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
