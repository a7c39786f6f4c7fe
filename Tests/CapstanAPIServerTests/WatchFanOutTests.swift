@testable import CapstanAPIServer
import CapstanAPI
import CapstanRPC
import CapstanStore
import CapstanTestSupport
import CapstanWire
import Synchronization
import Testing

/// The watch cache's fan-out: events queued for every watcher outside the cache's lock, watchers
/// without selectors served the event as it happened, bookmarks never ahead of an event.
@Suite("Watch cache fan-out")
struct WatchFanOutTests {
    func cache(
        queueLimit: Int = 1_000, ringCapacity: Int = WatchCache.Limits().ringCapacity,
        ringBytes: Int = WatchCache.Limits().ringBytes, logBytes: Int = WatchCache.Limits().logBytes
    ) -> WatchCache {
        var limits = WatchCache.Limits()
        limits.watcherQueueLimit = queueLimit
        limits.ringCapacity = ringCapacity
        limits.ringBytes = ringBytes
        limits.logBytes = logBytes
        let cache = WatchCache(codec: PodStrategy.codec, limits: limits, progress: CacheProgress())
        cache.reset(objects: [], revision: 1)
        return cache
    }

    func put(namespace: String, name: String, labels: [String: String], revision: Int64) -> WatchEvent {
        var pod = Pod()
        pod.metadata.name = name
        pod.metadata.namespace = namespace
        pod.metadata.labels = labels
        return WatchEvent(
            kind: .put,
            entry: KeyValue(key: "/registry/pods/\(namespace)/\(name)", value: pod.serializedBytes(), createRevision: 2, modRevision: revision))
    }

    func delete(namespace: String, name: String, revision: Int64) -> WatchEvent {
        WatchEvent(kind: .delete, entry: KeyValue(key: "/registry/pods/\(namespace)/\(name)", value: [], createRevision: 2, modRevision: revision))
    }

    /// Everything queued for `subscription` by now, after which it is stopped.
    func drain(_ subscription: WatchCache.Subscription) async throws -> [[UInt8]] {
        subscription.queue.end(nil)
        var taken: [[UInt8]] = []
        while let bytes = try await subscription.queue.next() { taken.append(bytes) }
        subscription.stop()
        return taken
    }

    func summary(_ events: [[UInt8]]) throws -> [String] {
        try events.map { bytes in
            let event = try PodEvent(serializedBytes: bytes)
            let type = switch event.type {
            case .added: "added"
            case .modified: "modified"
            case .deleted: "deleted"
            default: "other"
            }
            return "\(type) \(event.object.metadata.namespace)/\(event.object.metadata.name)@\(event.object.metadata.resourceVersion)"
        }
    }

    @Test("watchers with and without selectors get each change as its filter sees it; one encoding is shared")
    func selections() async throws {
        let cache = cache()
        func watch(_ namespace: String, _ labels: String = "") throws -> WatchCache.Subscription {
            let filter = try ObjectFilter.parse(namespace: namespace, labelSelector: labels, fieldSelector: "", schema: Pod.fieldSchema)
            return try cache.watch(filter: filter, fromRevision: 0, sendInitialEvents: false, allowBookmarks: false)
        }
        let all = try watch("")
        let allAgain = try watch("")
        let prod = try watch("prod")
        let other = try watch("other")
        let web = try watch("", "app=web")
        cache.apply(put(namespace: "prod", name: "p", labels: ["app": "web"], revision: 2))
        cache.apply(put(namespace: "prod", name: "p", labels: ["app": "db"], revision: 3))
        cache.apply(put(namespace: "other", name: "x", labels: [:], revision: 4))
        cache.apply(delete(namespace: "prod", name: "p", revision: 5))
        cache.apply(delete(namespace: "prod", name: "missing", revision: 6))

        let allEvents = try await drain(all)
        #expect(try summary(allEvents) == ["added prod/p@2", "modified prod/p@3", "added other/x@4", "deleted prod/p@5"])
        let allAgainEvents = try await drain(allAgain)
        #expect(allAgainEvents == allEvents)
        for (a, b) in zip(allEvents, allAgainEvents) {
            a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in #expect(a.baseAddress == b.baseAddress) } }
        }
        #expect(try summary(await drain(prod)) == ["added prod/p@2", "modified prod/p@3", "deleted prod/p@5"])
        #expect(try summary(await drain(other)) == ["added other/x@4"])
        // Leaving the selection is a DELETED of the object as it now is.
        #expect(try summary(await drain(web)) == ["added prod/p@2", "deleted prod/p@3"])
        #expect(cache.watcherCount == 0)
    }

    @Test("bookmarks sent while events are applied never run ahead of an event; each watcher gets every event in order")
    func bookmarksInOrder() async throws {
        let cache = cache(queueLimit: 2_000)
        var subscriptions: [WatchCache.Subscription] = []
        for index in 0..<8 {
            let filter = ObjectFilter(namespace: index % 2 == 0 ? "" : "prod")
            subscriptions.append(try cache.watch(filter: filter, fromRevision: 0, sendInitialEvents: false, allowBookmarks: true))
        }
        let changes: Int64 = 400
        let bookmarks = Task {
            for _ in 0..<400 {
                cache.sendBookmarks()
                await Task.yield()
            }
        }
        for revision in 2...(changes + 1) {
            cache.apply(put(namespace: "prod", name: "p\(revision % 7)", labels: [:], revision: revision))
            cache.progress.advance(to: revision)
            if revision % 16 == 0 { await Task.yield() }
        }
        await bookmarks.value
        for subscription in subscriptions {
            var eventRevisions: [UInt64] = []
            var highest: UInt64 = 0
            for bytes in try await drain(subscription) {
                let event = try PodEvent(serializedBytes: bytes)
                let revision = event.object.metadata.resourceVersion
                if event.type == .bookmark {
                    #expect(revision >= highest, "a bookmark at \(revision) after the event at \(highest)")
                } else {
                    #expect(revision > highest, "event \(revision) after \(highest)")
                    eventRevisions.append(revision)
                }
                highest = max(highest, revision)
            }
            #expect(eventRevisions == Array(2...UInt64(changes + 1)))
        }
    }

    @Test("a watcher more than `limit` entries behind the log ends with RESOURCE_EXHAUSTED after what it took; the others go on")
    func slowWatcher() async throws {
        let cache = cache(queueLimit: 5)
        let slow = try cache.watch(filter: ObjectFilter(), fromRevision: 0, sendInitialEvents: false, allowBookmarks: false)
        let fast = try cache.watch(filter: ObjectFilter(namespace: "prod"), fromRevision: 0, sendInitialEvents: false, allowBookmarks: false)
        var fastTaken: [[UInt8]] = []
        var slowTaken: [[UInt8]] = []
        for revision in Int64(2)...21 {
            cache.apply(put(namespace: "prod", name: "p", labels: [:], revision: revision))
            fastTaken += try await fast.queue.next(upTo: 64) ?? []
            // The slow watcher keeps up for three events, then stops taking any.
            if revision <= 4 { slowTaken += try await slow.queue.next(upTo: 64) ?? [] }
        }
        #expect(fastTaken.count == 20)
        do {
            while let bytes = try await slow.queue.next() { slowTaken.append(bytes) }
            Issue.record("the slow watcher should end with an error")
        } catch let error as RegistryError {
            #expect(error == .watcherTooSlow(limit: 5))
        }
        #expect(try summary(slowTaken) == ["added prod/p@2", "modified prod/p@3", "modified prod/p@4"])
        // It can resume from the last revision it received.
        #expect(slow.queue.lastRevision == 4)
        let resumed = try cache.watch(filter: ObjectFilter(), fromRevision: 4, sendInitialEvents: false, allowBookmarks: false)
        #expect(try await drain(resumed).count == 17)
        // Five entries behind is still in time.
        let late = try cache.watch(filter: ObjectFilter(), fromRevision: 0, sendInitialEvents: false, allowBookmarks: false)
        for revision in Int64(22)...26 { cache.apply(put(namespace: "prod", name: "p", labels: [:], revision: revision)) }
        #expect(try await late.queue.next(upTo: 64)?.count == 5)
        for subscription in [slow, fast, late] { subscription.stop() }
        #expect(cache.watcherCount == 0)
    }

    @Test("a watcher whose unread entries the log dropped for others' events takes its own from the ring; only its own past the limit end it")
    func recoveryFromTheRing() async throws {
        let cache = cache(queueLimit: 5)
        func watch(_ namespace: String, _ labels: String = "") throws -> WatchCache.Subscription {
            let filter = try ObjectFilter.parse(namespace: namespace, labelSelector: labels, fieldSelector: "", schema: Pod.fieldSchema)
            return try cache.watch(filter: filter, fromRevision: 0, sendInitialEvents: false, allowBookmarks: false)
        }
        let quiet = try watch("quiet")
        let labelled = try watch("", "app=db")
        let busy = try watch("prod")
        cache.apply(put(namespace: "quiet", name: "q1", labels: ["app": "db"], revision: 2))
        // Twenty entries for another namespace, while none of the three reads: the log (5
        // entries) drops the quiet watchers' unread entry.
        for revision in Int64(3)...22 { cache.apply(put(namespace: "prod", name: "p", labels: [:], revision: revision)) }
        cache.apply(put(namespace: "quiet", name: "q2", labels: ["app": "db"], revision: 23))
        #expect(try summary(await quiet.queue.next(upTo: 64) ?? []) == ["added quiet/q1@2", "added quiet/q2@23"])
        #expect(try summary(await labelled.queue.next(upTo: 64) ?? []) == ["added quiet/q1@2", "added quiet/q2@23"])
        // Live events follow, from the log again.
        cache.apply(put(namespace: "quiet", name: "q1", labels: [:], revision: 24))
        #expect(try summary(await quiet.queue.next(upTo: 64) ?? []) == ["modified quiet/q1@24"])
        #expect(try summary(await labelled.queue.next(upTo: 64) ?? []) == ["deleted quiet/q1@24"])
        // The busy watcher's own events (20) are more than its limit: it is too slow.
        await #expect(throws: RegistryError.watcherTooSlow(limit: 5)) { _ = try await busy.queue.next(upTo: 64) }
        for subscription in [quiet, labelled, busy] { subscription.stop() }

        // A ring that no longer holds the events after the watcher's position cannot help.
        let small = self.cache(queueLimit: 5, ringCapacity: 8)
        let lagging = try small.watch(
            filter: ObjectFilter(namespace: "quiet"), fromRevision: 0, sendInitialEvents: false, allowBookmarks: false)
        for revision in Int64(2)...21 { small.apply(put(namespace: "prod", name: "p", labels: [:], revision: revision)) }
        await #expect(throws: RegistryError.watcherTooSlow(limit: 5)) { _ = try await lagging.queue.next(upTo: 64) }
        lagging.stop()
    }

    @Test("the log and the ring are bounded by bytes: a watcher behind the log's bytes takes its events from the ring, or ends when the ring's bytes dropped them")
    func byteBounds() async throws {
        func heavy(_ name: String, revision: Int64) -> WatchEvent {
            var pod = Pod()
            pod.metadata.name = name
            pod.metadata.namespace = "prod"
            pod.metadata.annotations = ["blob": String(repeating: "x", count: 20_000)]
            return WatchEvent(
                kind: .put,
                entry: KeyValue(key: "/registry/pods/prod/\(name)", value: pod.serializedBytes(), createRevision: revision, modRevision: revision))
        }
        // About three heavy events fit the log, twelve the ring; counts do not bind.
        let cache = cache(ringBytes: 12 * 62_000, logBytes: 3 * 62_000)
        let idle = try cache.watch(filter: ObjectFilter(), fromRevision: 0, sendInitialEvents: false, allowBookmarks: false)
        for revision in Int64(2)...11 { cache.apply(heavy("p\(revision)", revision: revision)) }
        let names = try summary(await idle.queue.next(upTo: 64) ?? []).map { String($0.split(separator: " ")[1]) }
        #expect(names == (2...11).map { "prod/p\($0)@\($0)" }, "all ten, the first seven from the ring")
        // Ten more, with the watcher behind by all of them: the ring kept only the newest.
        for revision in Int64(12)...31 { cache.apply(heavy("p\(revision)", revision: revision)) }
        await #expect(throws: RegistryError.watcherTooSlow(limit: 1_000)) { _ = try await idle.queue.next(upTo: 64) }
        idle.stop()
        // A resume from before the ring's bytes is too old; from within them, served.
        #expect(throws: RegistryError.tooOld(requested: 12)) {
            _ = try cache.watch(filter: ObjectFilter(), fromRevision: 12, sendInitialEvents: false, allowBookmarks: false)
        }
        let resumed = try cache.watch(filter: ObjectFilter(), fromRevision: 25, sendInitialEvents: false, allowBookmarks: false)
        #expect(try await drain(resumed).count == 6)
    }

    @Test("initial events are taken a page at a time, as they were at the watch's start, though the kind changes between pages")
    func pagedSnapshot() async throws {
        let cache = cache()
        let names = (0..<1_000).map { "p" + String(String(10_000 + $0).dropFirst()) }
        cache.apply(names.enumerated().map { put(namespace: "prod", name: $1, labels: [:], revision: Int64(2 + $0)) }[...])
        let start: Int64 = 1_001
        let watch = try cache.watch(filter: ObjectFilter(), fromRevision: 0, sendInitialEvents: true, allowBookmarks: false)
        #expect(watch.queue.queuedCount == 0, "nothing is copied when the watch starts")
        let first = try summary(await watch.queue.next(upTo: 100) ?? [])
        #expect(first == (0..<100).map { "added prod/\(names[$0])@\(2 + $0)" })
        #expect(watch.queue.queuedCount == 0)
        // Changes after the start, some of keys the watcher has not been sent yet.
        cache.apply(delete(namespace: "prod", name: "p0500", revision: start + 1))
        cache.apply(put(namespace: "prod", name: "p0600", labels: ["v": "2"], revision: start + 2))
        cache.apply(put(namespace: "prod", name: "p0550x", labels: [:], revision: start + 3))
        cache.apply(put(namespace: "prod", name: "p9999", labels: [:], revision: start + 4))
        let rest = try await drain(watch)
        let initial = try summary(Array(rest.prefix(900)))
        #expect(initial == (100..<1_000).map { "added prod/\(names[$0])@\(2 + $0)" }, "the objects as they were at the start")
        let bookmark = try PodEvent(serializedBytes: rest[900])
        #expect(bookmark.type == .bookmark && bookmark.object.metadata.resourceVersion == UInt64(start))
        #expect(try summary(Array(rest.dropFirst(901))) == [
            "deleted prod/p0500@\(start + 1)", "modified prod/p0600@\(start + 2)", "added prod/p0550x@\(start + 3)",
            "added prod/p9999@\(start + 4)",
        ])
    }

    @Test("a watch that fails while its initial events are still being taken ends after what was queued: no live events, no BOOKMARK")
    func failureDuringSnapshot() async throws {
        let cache = cache()
        cache.apply((0..<600).map { put(namespace: "prod", name: "p\(1_000 + $0)", labels: [:], revision: Int64(2 + $0)) }[...])
        let watch = try cache.watch(filter: ObjectFilter(), fromRevision: 0, sendInitialEvents: true, allowBookmarks: false)
        #expect(try await watch.queue.next(upTo: 100)?.count == 100)
        cache.apply(put(namespace: "prod", name: "p1001", labels: ["v": "2"], revision: 700))
        cache.fail(.unavailable(reason: "the store is gone"))
        var after: [[UInt8]] = []
        await #expect(throws: RegistryError.unavailable(reason: "the store is gone")) {
            while let batch = try await watch.queue.next(upTo: 100) { after += batch }
        }
        let summarized = try summary(after)
        #expect(summarized.allSatisfy { $0.hasPrefix("added ") }, "\(summarized)")
        watch.stop()
    }

    @Test("initial events the ring can no longer reconstruct come from the store's pages at their revision")
    func snapshotFromTheStore() async throws {
        let cache = cache(ringCapacity: 8)
        let written = (0..<300).map { put(namespace: "prod", name: "p\(1_000 + $0)", labels: [:], revision: Int64(2 + $0)) }
        cache.apply(written[...])
        // The store as it was at 301: the objects written, by key.
        let stored = written.map { cache.cachedObject($0.entry) }
        let asked = Asked()
        let store: WatchCache.StorePager = { revision, after, page in
            asked.list.withLock { $0.append((revision, after)) }
            for object in stored where after.map({ OrderedKeys.precedes($0, object.key) }) ?? true {
                if page.offer(object) { return true }
            }
            return false
        }
        let watch = try cache.watch(filter: ObjectFilter(), fromRevision: 0, sendInitialEvents: true, allowBookmarks: false, store: store)
        let first = try summary(await watch.queue.next(upTo: 10) ?? [])
        // More changes than the ring holds, to keys both sent and not yet sent.
        for revision in Int64(302)...321 { cache.apply(delete(namespace: "prod", name: "p\(1_000 + revision - 302 + 5)", revision: revision)) }
        let rest = try summary(try await drain(watch))
        #expect(first + rest.prefix(290) == (0..<300).map { "added prod/p\(1_000 + $0)@\(2 + $0)" })
        #expect(rest[290] == "other /@301", "the BOOKMARK at 301")
        #expect(rest.dropFirst(291).allSatisfy { $0.hasPrefix("deleted ") })
        let firstAsked = asked.list.withLock { $0.first }
        #expect(firstAsked?.0 == 301 && firstAsked?.1 == "/registry/pods/prod/p1009", "\(String(describing: firstAsked))")
    }

    @Test("a watcher that takes its initial events so slowly that the ring drops the changes since ends RESOURCE_EXHAUSTED")
    func snapshotTooSlow() async throws {
        let cache = cache(ringCapacity: 8)
        cache.apply((0..<300).map { put(namespace: "prod", name: "p\($0)", labels: [:], revision: Int64(2 + $0)) }[...])
        let watch = try cache.watch(filter: ObjectFilter(), fromRevision: 0, sendInitialEvents: true, allowBookmarks: false)
        #expect(try await watch.queue.next(upTo: 10)?.count == 10)
        for revision in Int64(302)...321 { cache.apply(put(namespace: "other", name: "o", labels: [:], revision: revision)) }
        let limits = WatchCache.Limits()
        await #expect(throws: RegistryError.initialEventsTooSlow(revision: 301, events: 8, bytes: limits.ringBytes)) {
            while try await watch.queue.next(upTo: 10) != nil {}
        }
        watch.stop()
        let message = RegistryError.initialEventsTooSlow(revision: 301, events: 8, bytes: 128 << 20).rpcError
        #expect(message.code == .resourceExhausted)
        #expect(message.message.contains("resource version 301") && message.message.contains("watch again"), "\(message)")
    }

    @Test("a quiet watcher that read past other watchers' entries recovers from where it read, though its own last event left the ring")
    func recoveryFromWhereItRead() async throws {
        let cache = cache(queueLimit: 5, ringCapacity: 8)
        let quiet = try cache.watch(
            filter: ObjectFilter(namespace: "quiet"), fromRevision: 0, sendInitialEvents: false, allowBookmarks: false)
        let reader = Task { try await quiet.queue.next(upTo: 64) ?? [] }
        // Twenty entries for another namespace, each read (and passed over) as it comes: the
        // watcher's own position stays at its start, long out of the ring.
        for revision in Int64(2)...21 {
            cache.apply(put(namespace: "prod", name: "p", labels: [:], revision: revision))
            #expect(await eventually { quiet.queue.readThroughRevision == revision }, "read through \(revision)")
        }
        // Seven more at once, past the log's five entries but within the ring's eight, then its own.
        cache.apply((22...28).map { put(namespace: "prod", name: "p", labels: [:], revision: $0) }[...])
        cache.apply(put(namespace: "quiet", name: "q", labels: [:], revision: 29))
        #expect(try summary(await reader.value) == ["added quiet/q@29"])
        quiet.stop()
    }

    @Test("the log wakes each parked watcher once per entry, refuses to park one that has entries waiting, and drops ended watchers from its list")
    func parking() async throws {
        let log = FanOutLog(capacity: 4)
        let queues = (0..<1_500).map { _ in WatcherQueue(limit: 4, initial: [], lastRevision: 0) }
        for queue in queues { #expect(log.park(queue, cursor: 0)) }
        let woken = log.append(.bookmark(revision: 1, bytes: [1]))
        #expect(woken.count == 1_500 && log.parkedCount == 0)
        // An entry after the cursor is waiting: no parking.
        #expect(!log.park(queues[0], cursor: 0))
        // Watches that ended while parked do not pile up when no entry comes.
        for queue in queues {
            queue.cancel()
            #expect(log.park(queue, cursor: 1))
        }
        #expect(log.parkedCount < 1_500)
        let live = WatcherQueue(limit: 4, initial: [], lastRevision: 0)
        #expect(log.park(live, cursor: 1))
        #expect(log.append(.bookmark(revision: 2, bytes: [2])).contains { $0 === live })
    }
}

private final class Asked: Sendable {
    let list = Mutex<[(Int64, String?)]>([])
}
