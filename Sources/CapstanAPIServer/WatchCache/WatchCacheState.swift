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
    init(objects: [CachedObject], revision: Int64, ringCapacity: Int, ringBytes: Int = .max) {
        for object in objects { self.objects[object.key] = object }
        self.keys = OrderedKeys(sorted: self.objects.keys.sorted(by: OrderedKeys.precedes))
        self.revision = revision
        self.ring = EventRing(capacity: ringCapacity, byteLimit: ringBytes, startRevision: revision)
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

    /// Where a scan of the keys stopped.
    enum ScanStop: Equatable {
        /// The page is full, and a matching object follows it.
        case full
        /// No key is left under the prefix.
        case end
        /// The scan examined its budget of keys; it goes on after `key`.
        case paused(after: String)
    }

    /// One page of a listing: objects under `prefix` after `afterKey`, matching `filter`, at most
    /// `limit` of them and at most `byteBudget` bytes (but at least one). `more` is whether
    /// another matching object follows the page.
    func page(prefix: String, after afterKey: String?, filter: ObjectFilter, limit: Int, byteBudget: Int)
        -> (items: [CachedObject], more: Bool)
    {
        var page = PageBuilder(filter: filter, limit: limit, byteBudget: byteBudget)
        let stop = scan(prefix: prefix, after: afterKey, into: &page)
        return (page.items, stop == .full)
    }

    /// The same page of the listing as it was at `revision` (see `scan(atRevision:…)`), or nil
    /// when the ring no longer holds every event after `revision`.
    func page(
        atRevision revision: Int64, prefix: String, after afterKey: String, filter: ObjectFilter, limit: Int,
        byteBudget: Int
    ) -> (items: [CachedObject], more: Bool)? {
        var page = PageBuilder(filter: filter, limit: limit, byteBudget: byteBudget)
        guard let stop = scan(atRevision: revision, prefix: prefix, after: afterKey, into: &page) else { return nil }
        return (page.items, stop == .full)
    }

    /// Offers the objects under `prefix` after `afterKey` (nil: from the first) to `page`, in
    /// store order, until it is full, the keys end, or `budget` keys were examined.
    func scan(prefix: String, after afterKey: String?, into page: inout PageBuilder, budget: Int = .max) -> ScanStop {
        precondition(budget > 0, "a scan examines at least one key")
        var index = firstIndex(prefix: prefix, after: afterKey)
        var examined = 0
        var last = ""
        while index < keys.endIndex, keys[index].hasPrefix(prefix) {
            if examined == budget { return .paused(after: last) }
            last = keys[index]
            index = keys.index(after: index)
            examined += 1
            if page.offer(objects[last]!) { return .full }
        }
        return .end
    }

    /// Where the keys under `prefix` after `afterKey` begin.
    private func firstIndex(prefix: String, after afterKey: String?) -> OrderedKeys.Index {
        guard let afterKey else { return keys.lowerBound(prefix) }
        let next = afterKey + "\u{0}"
        return keys.lowerBound(OrderedKeys.precedes(next, prefix) ? prefix : next)
    }

    /// `scan(prefix:…)` over the listing as it was at `revision` (an earlier revision this state
    /// reached, or this one), or nil when the ring no longer holds every event after `revision`.
    /// The objects are today's, except that each key changed since `revision` is put back as its
    /// first change after `revision` found it (absent if that change created it): changes before
    /// `afterKey` or outside `prefix` cost nothing but the walk over the ring. A key put back
    /// counts against `budget` as a key examined.
    func scan(
        atRevision revision: Int64, prefix: String, after afterKey: String?, into page: inout PageBuilder,
        budget: Int = .max
    ) -> ScanStop? {
        guard self.revision > revision else { return scan(prefix: prefix, after: afterKey, into: &page, budget: budget) }
        precondition(budget > 0, "a scan examines at least one key")
        guard let later = ring.events(after: revision) else { return nil }
        var then: [String: CachedObject?] = [:]
        for event in later where then[event.key] == nil && event.key.hasPrefix(prefix) {
            if afterKey.map({ OrderedKeys.precedes($0, event.key) }) ?? true { then[event.key] = .some(event.previous) }
        }
        let changed = then.keys.sorted(by: OrderedKeys.precedes)
        var index = firstIndex(prefix: prefix, after: afterKey)
        var next = 0
        var examined = 0
        var last: String?
        // Today's keys and the changed keys, merged in store order; a key in both is taken once,
        // as it was at `revision`.
        while true {
            let current = index < keys.endIndex && keys[index].hasPrefix(prefix) ? keys[index] : nil
            let restored = next < changed.count ? changed[next] : nil
            if current == nil && restored == nil { return .end }
            if examined == budget, let last { return .paused(after: last) }
            let object: CachedObject?
            if let current, restored.map({ OrderedKeys.precedes(current, $0) }) ?? true {
                object = objects[current]!
                index = keys.index(after: index)
                last = current
            } else if let restored {
                object = then[restored]!
                next += 1
                if let current, !OrderedKeys.precedes(restored, current) { index = keys.index(after: index) }
                last = restored
            } else {
                return .end
            }
            examined += 1
            if let object, page.offer(object) { return .full }
        }
    }
}
