/// The cache of one kind as a pure value: every current object by key (and the keys in store
/// order, for paged lists), the recent events, and the revision it reflects.
struct WatchCacheState: Sendable {
    private(set) var objects: [String: CachedObject] = [:]
    /// Keys in byte order, as the store orders them.
    private(set) var keys = OrderedKeys()
    private(set) var ring: EventRing
    /// The revision of the last applied event of this kind (or of the listing it started from).
    private(set) var revision: Int64

    /// The state listed at `revision`.
    init(objects: [CachedObject], revision: Int64, ringCapacity: Int) {
        for object in objects { self.objects[object.key] = object }
        self.keys = OrderedKeys(sorted: self.objects.keys.sorted(by: OrderedKeys.precedes))
        self.revision = revision
        self.ring = EventRing(capacity: ringCapacity, startRevision: revision)
    }

    /// Records that `object` was written at `object.revision`; returns the event.
    mutating func put(_ object: CachedObject) -> CacheEvent {
        let previous = objects.updateValue(object, forKey: object.key)
        if previous == nil { keys.insert(object.key) }
        return record(CacheEvent(revision: object.revision, key: object.key, previous: previous, current: object))
    }

    /// Records that `key` was deleted at `revision`; nil if the cache did not hold it.
    mutating func delete(_ key: String, revision: Int64) -> CacheEvent? {
        guard let previous = objects.removeValue(forKey: key) else {
            self.revision = max(self.revision, revision)
            return nil
        }
        keys.remove(key)
        return record(CacheEvent(revision: revision, key: key, previous: previous, current: nil))
    }

    private mutating func record(_ event: CacheEvent) -> CacheEvent {
        ring.append(event)
        revision = max(revision, event.revision)
        return event
    }

    /// Every object under `prefix` that matches `filter`, in key order.
    func matching(prefix: String, filter: ObjectFilter) -> [CachedObject] {
        var index = keys.lowerBound(prefix)
        var items: [CachedObject] = []
        while index < keys.endIndex, keys[index].hasPrefix(prefix) {
            let object = objects[keys[index]]!
            index = keys.index(after: index)
            if filter.matches(object) { items.append(object) }
        }
        return items
    }

    /// One page of a listing: objects under `prefix` after `afterKey`, matching `filter`, at most
    /// `limit` of them and at most `byteBudget` bytes (but at least one). `more` is whether
    /// another matching object follows the page.
    func page(prefix: String, after afterKey: String?, filter: ObjectFilter, limit: Int, byteBudget: Int)
        -> (items: [CachedObject], more: Bool)
    {
        var index = keys.lowerBound(afterKey.map { $0 + "\u{0}" } ?? prefix)
        var items: [CachedObject] = []
        var bytes = 0
        while index < keys.endIndex, keys[index].hasPrefix(prefix) {
            let object = objects[keys[index]]!
            index = keys.index(after: index)
            guard filter.matches(object) else { continue }
            let size = ProtoBytes.listItemSize(object.bytes)
            if items.count == limit || (!items.isEmpty && bytes + size > byteBudget) {
                return (items, true)
            }
            items.append(object)
            bytes += size
        }
        return (items, false)
    }
}
