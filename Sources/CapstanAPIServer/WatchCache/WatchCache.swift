import CapstanAPI
import CapstanStore
import Synchronization

/// One kind's watch cache (DESIGN.md, "API server"): every current object as its encoded bytes
/// plus selector fields, a ring of recent events, and the watchers. `CacheFeed` applies the
/// store's changes; Get, List and Watch read here.
///
/// Live events reach the watchers through the kind's `FanOutLog`: applying a change appends it
/// there once and wakes only the watchers parked waiting for it; each watcher's task reads the
/// log itself (see `WatcherQueue`).
final class WatchCache: Sendable {
    /// Sizes of the cache.
    struct Limits: Sendable {
        /// Recent events kept for watches that resume.
        var ringCapacity = 10_000
        /// Most bytes those events may hold (see `EventRing.weight(of:)`).
        var ringBytes = 128 << 20
        /// Most bytes the fan-out log's entries may hold; a watcher behind them recovers its
        /// events from the ring.
        var logBytes = 64 << 20
        /// Live events of its own a watcher may lag behind before it is dropped; the fan-out log
        /// keeps this many entries for all watchers, and the ring covers a watcher whose unread
        /// entries the log dropped (see `WatcherQueue`).
        var watcherQueueLimit = 1_000
        /// Watchers this kind serves at once.
        var maxWatchers = 10_000
    }

    /// A started watch: pull its events from `queue`, `stop` it when done.
    struct Subscription: Sendable {
        let queue: WatcherQueue
        let stop: @Sendable () -> Void
    }

    private struct Watcher: Sendable {
        let allowBookmarks: Bool
        let queue: WatcherQueue
    }

    /// What a watcher selecting `filter` receives of an event, given the event as it happened.
    /// Without label and field selectors that is the event itself wherever the namespace fits,
    /// without looking at the objects.
    private static func selection(_ filter: ObjectFilter) -> @Sendable (CacheEvent, [UInt8]) -> [UInt8]? {
        guard filter.labels.isEmpty, filter.fields.isEmpty else {
            return { event, _ in event.delivery(for: filter) }
        }
        let namespace = filter.namespace
        if namespace.isEmpty { return { _, natural in natural } }
        return { event, natural in event.namespace == namespace ? natural : nil }
    }

    private struct Shared {
        /// nil until the feed listed the kind for the first time.
        var state: WatchCacheState?
        /// Set while the feed cannot follow the store.
        var failure: RegistryError?
        var watchers: [Int: Watcher] = [:]
        var nextWatcher = 0
        /// Watchers that allow bookmarks.
        var bookmarkWatchers = 0
        /// The revision of the last bookmark appended to the log.
        var lastBookmark: Int64 = 0
        /// A watcher that allows bookmarks started from "now" since the last bookmark: it has not
        /// been told any revision, so the next bookmark goes out even if the revision did not move.
        var untoldWatchers = false
        /// Set once the server shuts down: new watches fail with it (reads still work).
        var watchesClosed: RegistryError?
    }

    /// Writes this server is making, by key: the stored bytes and the selector fields the registry
    /// took from the object it encoded. When the feed applies a put of exactly these bytes it uses
    /// these fields instead of decoding the bytes again (equal bytes are the same object). Noted
    /// before the store write (the store may publish the change before the writer resumes).
    private struct Expected {
        private(set) var objects: [String: (value: [UInt8], fields: SelectorFields)] = [:]
        /// The bytes of the noted values together.
        private(set) var bytes = 0

        /// Notes a write, unless that would keep more than `maxExpected` writes or
        /// `maxExpectedBytes` (a write whose outcome the store left unknown stays noted until
        /// its key changes).
        mutating func note(_ key: String, _ value: [UInt8], _ fields: SelectorFields) {
            let replaced = objects[key]?.value.count
            guard objects.count < WatchCache.maxExpected || replaced != nil,
                bytes - (replaced ?? 0) + value.count <= WatchCache.maxExpectedBytes
            else { return }
            objects[key] = (value, fields)
            bytes += value.count - (replaced ?? 0)
        }

        mutating func take(_ key: String) -> (value: [UInt8], fields: SelectorFields)? {
            guard let noted = objects.removeValue(forKey: key) else { return nil }
            bytes -= noted.value.count
            return noted
        }

        mutating func removeAll() {
            objects = [:]
            bytes = 0
        }
    }

    /// Most expected writes kept; more are dropped (the feed then decodes their bytes).
    static let maxExpected = 4_096
    /// Most bytes of expected writes kept.
    static let maxExpectedBytes = 64 << 20

    let codec: KindCodec
    let limits: Limits
    let progress: CacheProgress
    private let shared = Mutex(Shared())
    private let expected = Mutex(Expected())
    /// Live events and bookmarks for the watchers; appended under `shared`.
    private let log: FanOutLog

    init(codec: KindCodec, limits: Limits, progress: CacheProgress) {
        self.codec = codec
        self.limits = limits
        self.progress = progress
        log = FanOutLog(capacity: max(1, limits.watcherQueueLimit), byteLimit: limits.logBytes)
    }

    deinit {
        log.releaseParked(all: true)
    }

    var prefix: String { codec.keys.root }

    // MARK: Feed side

    /// Notes that this server is about to store `value` at `key`, an object with `selectorFields`.
    func expectWrite(key: String, value: [UInt8], selectorFields: SelectorFields) {
        expected.withLock { $0.note(key, value, selectorFields) }
    }

    /// How many objects the cache holds (0 before it listed the store).
    var objectCount: Int { shared.withLock { $0.state?.objects.count ?? 0 } }

    /// Forgets the note of a write of `value` at `key` that failed.
    func forgetWrite(key: String, value: [UInt8]) {
        expected.withLock { expected in
            if let noted = expected.objects[key], noted.value == value { _ = expected.take(key) }
        }
    }

    /// The selector fields of each change the feed applies now, where this server noted that
    /// write.
    private func takeExpected(_ changes: ArraySlice<WatchEvent>) -> [SelectorFields?] {
        expected.withLock { expected in
            guard !expected.objects.isEmpty else { return Array(repeating: nil, count: changes.count) }
            return changes.map { change in
                guard let noted = expected.take(change.entry.key) else { return nil }
                return change.kind == .put && noted.value == change.entry.value ? noted.fields : nil
            }
        }
    }

    /// The cached form of a stored entry.
    func cachedObject(_ entry: KeyValue, selectorFields: SelectorFields? = nil) -> CachedObject {
        let (namespace, name) = codec.keys.parse(entry.key) ?? ("", entry.key)
        let fields = selectorFields ?? (try? codec.selectorFields(entry.value))
            ?? SelectorFields(labels: [:], fields: FieldValues([.init("metadata.name", name), .init("metadata.namespace", namespace)]))
        let bytes = (try? ProtoBytes.object(entry.value, withResourceVersion: entry.modRevision)) ?? entry.value
        return CachedObject(
            key: entry.key, namespace: namespace, name: name, selectorFields: fields, revision: entry.modRevision, bytes: bytes)
    }

    /// The cached forms of stored entries (a List page read from the store): the cache's own
    /// object where it holds that very version, built from the bytes only where not.
    func cachedObjects(_ entries: [KeyValue]) -> [CachedObject] {
        let known: [CachedObject?] = shared.withLock { shared in
            guard let state = shared.state else { return [] }
            return entries.map { entry in
                guard let object = state.objects[entry.key], object.revision == entry.modRevision else { return nil }
                return object
            }
        }
        return entries.indices.map { index in
            (index < known.count ? known[index] : nil) ?? cachedObject(entries[index])
        }
    }

    /// Replaces the whole state with a listing at `revision`, in its cached form (`cachedObject`).
    /// Watchers of an earlier state end with `tooOld`: what happened between their revision and
    /// `revision` is not known.
    func reset(objects: [CachedObject], revision: Int64) {
        expected.withLock { $0.removeAll() }
        let ended: [Watcher] = shared.withLock { shared in
            shared.state = WatchCacheState(
                objects: objects, revision: revision, ringCapacity: limits.ringCapacity, ringBytes: limits.ringBytes)
            shared.failure = nil
            // The listing may be older than the last bookmark (the store went back).
            shared.lastBookmark = 0
            return Self.removeAll(&shared)
        }
        for watcher in ended { watcher.queue.end(.tooOld(requested: watcher.queue.position)) }
        log.releaseParked()
    }

    /// Applies one change from the store; see `apply(_:)` for a run of them.
    func apply(_ change: WatchEvent) {
        apply([change][...])
    }

    /// Applies changes from the store, in order, and appends each to the fan-out log (when
    /// anyone watches), then wakes the watchers parked there, outside the lock. A run of changes
    /// takes each lock once.
    func apply(_ changes: ArraySlice<WatchEvent>) {
        let noted = takeExpected(changes)
        var objects: [CachedObject?] = []
        objects.reserveCapacity(changes.count)
        for (change, fields) in zip(changes, noted) {
            objects.append(change.kind == .put ? cachedObject(change.entry, selectorFields: fields) : nil)
        }
        let parked: [WatcherQueue] = shared.withLock { shared in
            guard shared.state != nil else { return [] }
            var parked: [WatcherQueue] = []
            for (change, object) in zip(changes, objects) {
                let event: CacheEvent?
                if let object {
                    event = shared.state!.put(object)
                } else {
                    event = shared.state!.delete(change.entry.key, revision: change.revision)
                }
                // A watcher starting later reads the log from its end: nobody needs this entry.
                guard let event, !shared.watchers.isEmpty else { continue }
                parked += log.append(.event(event, natural: event.naturalDelivery()))
            }
            return parked
        }
        for queue in parked { queue.wake() }
    }

    /// Empties `shared.watchers`, returning them.
    private static func removeAll(_ shared: inout Shared) -> [Watcher] {
        defer {
            shared.watchers = [:]
            shared.bookmarkWatchers = 0
        }
        return Array(shared.watchers.values)
    }

    /// Lets reads and watches in again after `fail`, keeping the state: the feed follows the
    /// store again from the revision this cache had reached, so it is still a state of the store.
    func recover() {
        shared.withLock { $0.failure = nil }
    }

    /// Ends every watcher with `error`; reads fail with it until the next `reset` or `recover`.
    func fail(_ error: RegistryError) {
        let ended: [Watcher] = shared.withLock { shared in
            shared.failure = error
            return Self.removeAll(&shared)
        }
        for watcher in ended { watcher.queue.end(error) }
        log.releaseParked()
    }

    /// Ends every watcher with `error` and refuses new watches with it, for good; reads go on.
    /// A graceful shutdown waits for calls in flight, and a watch never ends by itself.
    func closeWatches(_ error: RegistryError) {
        let ended: [Watcher] = shared.withLock { shared in
            shared.watchesClosed = error
            return Self.removeAll(&shared)
        }
        for watcher in ended { watcher.queue.end(error) }
        log.releaseParked()
    }

    /// Sends a BOOKMARK at the current revision to every watcher that asked for bookmarks and has
    /// not been told about it yet (one that started from "now" has been told no revision at all).
    ///
    /// The bookmark is an entry of the fan-out log, so it reaches each watcher after every
    /// event before it; each watcher skips it if it already received that revision.
    func sendBookmarks() {
        let parked: [WatcherQueue] = shared.withLock { shared in
            guard let state = shared.state, shared.bookmarkWatchers > 0 else { return [] }
            let revision = effectiveRevision(state)
            guard revision > shared.lastBookmark || shared.untoldWatchers else { return [] }
            shared.lastBookmark = revision
            shared.untoldWatchers = false
            return log.append(.bookmark(revision: revision, bytes: ProtoBytes.bookmarkEvent(revision: revision)))
        }
        for queue in parked { queue.wake() }
    }

    /// What watcher `id` receives of the ring's events after `position`, up to `limit` of them,
    /// and the log's sequence number after the last (see `WatcherQueue.Live.recover`). The ring
    /// and the log are appended together under `shared`, and every change since the watcher
    /// started went to both. nil when the watcher was removed (ended), the ring no longer holds
    /// every event after `position`, or the watcher's events there are more than `limit`.
    private func recover(watcher id: Int, filter: ObjectFilter, after position: Int64, limit: Int)
        -> WatcherQueue.Recovery?
    {
        // The events and the log's position are taken together under the lock; the filter runs
        // outside it (up to the ring's 10,000 events), so appends and reads do not wait for it.
        let taken: (events: [CacheEvent], cursor: Int)? = shared.withLock { shared in
            guard shared.watchers[id] != nil, shared.failure == nil, let state = shared.state,
                let events = state.ring.events(after: position)
            else { return nil }
            return (events, log.nextSequence)
        }
        guard let taken else { return nil }
        var recovered: [[UInt8]] = []
        for event in taken.events {
            guard let bytes = event.delivery(for: filter) else { continue }
            if recovered.count == limit { return nil }
            recovered.append(bytes)
        }
        let revision = taken.events.last?.revision ?? position
        return WatcherQueue.Recovery(events: recovered, revision: revision, cursor: taken.cursor)
    }

    /// How many watchers are registered (for tests).
    var watcherCount: Int { shared.withLock { $0.watchers.count } }

    // MARK: Read side

    /// The revision a read of `state` reflects: its own last event, or later if the feed has
    /// applied later events of other kinds (this kind had no change since).
    private func effectiveRevision(_ state: WatchCacheState) -> Int64 {
        max(state.revision, progress.revision)
    }

    private func readable(_ shared: Shared) throws(RegistryError) -> WatchCacheState {
        if let failure = shared.failure { throw failure }
        guard let state = shared.state else { throw .unavailable(reason: "the watch cache is starting") }
        return state
    }

    /// The object at `key`, if present.
    func get(_ key: String) throws(RegistryError) -> CachedObject? {
        try shared.withLock { (shared) throws(RegistryError) in try readable(shared).objects[key] }
    }

    /// The encoding of the object at `key`, if present: what a Get answers. One reference taken
    /// under the lock, not one per field of the cached object (both event loops read the same
    /// objects, so each reference count touched is a cache line the cores pass back and forth).
    func encoded(_ key: String) throws(RegistryError) -> [UInt8]? {
        try shared.withLock { (shared) throws(RegistryError) in try readable(shared).objects[key]?.bytes }
    }

    /// How a stepped scan ended (see `scan(atRevision:…)`).
    enum ScanEnd: Equatable {
        /// The page is full, and a matching object follows it.
        case full
        /// No key is left under the prefix.
        case end
        /// The cache cannot show the revision (its ring no longer holds every change since, or
        /// it has not reached it): the store must go on after `after` (nil: from the first key).
        case needsStore(after: String?)
    }

    /// Keys a scan examines per hold of the cache's lock (about 2 ms at a selector's pace). A List
    /// or a watch's initial events whose selector matches little of a large kind would otherwise
    /// hold the lock, and the event loop its call runs on, for the whole scan: 150,000 pods took
    /// 150–200 ms, during which every client of the server waited.
    static let scanStep = 2_048

    /// Fills `page` with the objects under `prefix` after `after` (nil: from the first) that
    /// match its filter, as they were at `revision` (nil: the cache's revision when the scan
    /// starts), in store order. It scans `scanStep` keys per hold of the lock and yields its
    /// thread between holds, so other calls on the same event loop go on meanwhile; the steps
    /// after the first show the same revision from today's objects and the ring. Returns how
    /// the scan ended and the revision the page shows. A cancelled task stops between steps.
    func scan(atRevision revision: Int64?, prefix: String, after: String?, into page: inout PageBuilder)
        async throws(RegistryError) -> (end: ScanEnd, revision: Int64)
    {
        var at = revision
        var after = after
        while true {
            let stop: WatchCacheState.ScanStop? = try shared.withLock { (shared) throws(RegistryError) in
                let state = try readable(shared)
                let now = effectiveRevision(state)
                if at == nil { at = now }
                guard at! <= now else { return nil }
                return state.scan(atRevision: at!, prefix: prefix, after: after, into: &page, budget: Self.scanStep)
            }
            switch stop {
            case nil: return (.needsStore(after: after), at!)
            case .full: return (.full, at!)
            case .end: return (.end, at!)
            case .paused(let key):
                after = key
                await Task.yield()
                if Task.isCancelled { throw .unavailable(reason: "the call was cancelled") }
            }
        }
    }

    /// Most bytes of objects a watch's initial events take from the cache at a time.
    static let snapshotPageBytes = 1 << 20

    /// Goes on filling `page` from the store as it was at `revision`, after `after` (nil: from
    /// the first key); returns whether a matching object follows the page.
    typealias StorePager = @Sendable (_ revision: Int64, _ after: String?, _ page: inout PageBuilder)
        async throws(RegistryError) -> Bool

    /// The next objects of a watch's initial events: the matching objects under `prefix` after
    /// `after` as they were at `revision`, at most `limit` of them, and the key to go on after
    /// (nil once they are all taken). Once the ring no longer holds the changes since
    /// `revision` (a watcher that reads slowly while the kind changes fast), they come from the
    /// store at `revision` through `store`; without it, or once the store compacted that
    /// revision too, the watcher was too slow.
    private func snapshotPage(
        at revision: Int64, prefix: String, after: String?, filter: ObjectFilter, limit: Int, store: StorePager?
    ) async throws(RegistryError) -> (items: [CachedObject], next: String?) {
        var page = PageBuilder(filter: filter, limit: limit, byteBudget: Self.snapshotPageBytes)
        let more: Bool
        switch try await scan(atRevision: revision, prefix: prefix, after: after, into: &page).end {
        case .full: more = true
        case .end: more = false
        case .needsStore(let after):
            let tooSlow = RegistryError.initialEventsTooSlow(
                revision: revision, events: limits.ringCapacity, bytes: limits.ringBytes)
            guard let store else { throw tooSlow }
            do {
                more = try await store(revision, after, &page)
            } catch .tooOld {
                throw tooSlow
            }
        }
        return (page.items, more ? page.items.last!.key : nil)
    }

    /// Starts a watch. With `sendInitialEvents`, every matching object is queued as ADDED, then a
    /// BOOKMARK at the snapshot's revision; otherwise the changes after `fromRevision` (0: now),
    /// from the ring, or `tooOld` if the ring no longer holds them.
    func watch(
        filter: ObjectFilter, fromRevision: Int64, sendInitialEvents: Bool, allowBookmarks: Bool,
        store: StorePager? = nil
    ) throws(RegistryError) -> Subscription {
        let (id, queue): (Int, WatcherQueue) = try shared.withLock { (shared) throws(RegistryError) in
            if let closed = shared.watchesClosed { throw closed }
            let state = try readable(shared)
            guard shared.watchers.count < limits.maxWatchers else { throw .tooManyWatches(resource: codec.keys.resource, limit: limits.maxWatchers) }
            let now = effectiveRevision(state)
            var initial: [WatcherQueue.Item] = []
            let floor: Int64
            // The newest revision the client knows: the initial BOOKMARK's, or the one it asked
            // from; none for a watch from "now", so that a bookmark at `now` still reaches it.
            let told: Int64
            var snapshot: WatcherQueue.Snapshot?
            if sendInitialEvents {
                // Taken page by page as the watcher sends them, at `now` (see `snapshotPage`): a
                // watcher that reads slowly holds a page, not a copy of the kind. Only the
                // namespace's keys: a watch of one namespace costs nothing for the others.
                let prefix = codec.keys.prefix(namespace: filter.namespace)
                snapshot = WatcherQueue.Snapshot(
                    page: { [weak self] after, limit throws(RegistryError) in
                        guard let self else { throw .unavailable(reason: "the server is stopping") }
                        return try await self.snapshotPage(
                            at: now, prefix: prefix, after: after, filter: filter, limit: limit, store: store)
                    },
                    end: ProtoBytes.bookmarkEvent(revision: now))
                floor = now
                told = now
            } else if fromRevision > 0 {
                guard let events = state.ring.events(after: fromRevision) else { throw .tooOld(requested: fromRevision) }
                initial = events.compactMap { $0.delivery(for: filter).map(WatcherQueue.Item.event) }
                floor = max(fromRevision, events.last?.revision ?? 0)
                told = floor
            } else {
                floor = now
                told = 0
                if allowBookmarks { shared.untoldWatchers = true }
            }
            // Entries appended from now on are after `floor`: the log is appended under this lock.
            shared.nextWatcher += 1
            let id = shared.nextWatcher
            var live = WatcherQueue.Live(log: log, floor: floor, allowBookmarks: allowBookmarks, select: Self.selection(filter))
            live.recover = { [weak self] after, limit in
                self?.recover(watcher: id, filter: filter, after: max(after, floor), limit: limit)
            }
            let queue = WatcherQueue(
                limit: limits.watcherQueueLimit, initial: initial, snapshot: snapshot, lastRevision: told, live: live,
                cursor: log.nextSequence)
            shared.watchers[id] = Watcher(allowBookmarks: allowBookmarks, queue: queue)
            if allowBookmarks { shared.bookmarkWatchers += 1 }
            return (id, queue)
        }
        return Subscription(queue: queue) { [weak self] in
            queue.cancel()
            self?.shared.withLock { shared in
                if let removed = shared.watchers.removeValue(forKey: id), removed.allowBookmarks { shared.bookmarkWatchers -= 1 }
            }
        }
    }
}
