@testable import CapstanAPIServer
import CapstanAPI
import CapstanAPIServerHost
import CapstanRPC
@testable import CapstanStore
import CapstanTestSupport
import Synchronization
import Testing

/// A real store (SQLite, or etcd) whose watch fails at once (as when the history it would replay
/// cannot be read) or whose write check hangs, while everything else works: fault injection
/// around the real store, as the SQLite fault VFS does one level down.
final class FaultyStore: Store {
    let store: any Store
    /// When each watch was asked for.
    let watchTimes = Mutex<[ContinuousClock.Instant]>([])
    /// While set, `watch` fails at once.
    let failsWatches: Atomic<Bool>
    /// While set, `list` fails at once (counted in `listFailures`).
    let failsLists = Atomic<Bool>(false)
    let listFailures = Atomic<Int>(0)
    /// While set, `list` waits (deaf to cancellation) before it goes on.
    let listsHang = Atomic<Bool>(false)
    /// Calls of `list`.
    let listCalls = Atomic<Int>(0)
    /// While set, `checkWritable` hangs, deaf to cancellation (as behind a hung fsync).
    let checksHang = Atomic<Bool>(false)
    let checks = Atomic<Int>(0)
    /// While set, creates, updates and deletes are applied and then reported as failed with their
    /// outcome unknown (as etcd's connection breaking after the request went out).
    let writesLandUncertain = Atomic<Bool>(false)
    /// While set, the store says others move its revision too (as etcd shared with other programs).
    let sharesRevision = Atomic<Bool>(false)

    private func uncertainIfAsked() throws(StoreError) {
        if writesLandUncertain.load(ordering: .relaxed) {
            throw .unavailable(reason: "injected: the peer closed the connection" + EtcdStore.mayTakeEffect)
        }
    }
    /// While set, watch events are held back, not lost: the caches fall behind the store without
    /// failing (as while etcd's client resumes a broken watch on its own).
    let holdsEvents = Atomic<Bool>(false)

    init(_ store: any Store, failsWatches: Bool = true) {
        self.store = store
        self.failsWatches = Atomic(failsWatches)
    }

    nonisolated(nonsending) func get(_ key: String) async throws(StoreError) -> KeyValue { try await store.get(key) }
    nonisolated(nonsending) func list(prefix: String, after continueKey: String?, limit: Int, revision: Int64)
        async throws(StoreError) -> ListResult
    {
        listCalls.add(1, ordering: .relaxed)
        while listsHang.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(10)) }
        if failsLists.load(ordering: .relaxed) {
            listFailures.add(1, ordering: .relaxed)
            throw .unavailable(reason: "injected: the store cannot be listed")
        }
        return try await store.list(prefix: prefix, after: continueKey, limit: limit, revision: revision)
    }
    nonisolated(nonsending) func create(_ key: String, value: [UInt8], lease: Int64, unchanged: [KeyRevision])
        async throws(StoreError) -> Int64
    {
        let revision = try await store.create(key, value: value, lease: lease, unchanged: unchanged)
        try uncertainIfAsked()
        return revision
    }
    nonisolated(nonsending) func update(_ key: String, value: [UInt8], expectedRevision: Int64, unchanged: [KeyRevision])
        async throws(StoreError) -> Int64
    {
        let revision = try await store.update(key, value: value, expectedRevision: expectedRevision, unchanged: unchanged)
        try uncertainIfAsked()
        return revision
    }
    nonisolated(nonsending) func delete(_ key: String, expectedRevision: Int64) async throws(StoreError) -> KeyValue {
        let entry = try await store.delete(key, expectedRevision: expectedRevision)
        try uncertainIfAsked()
        return entry
    }
    func watch(prefix: String, fromRevision: Int64) async throws(StoreError) -> WatchStream {
        watchTimes.withLock { $0.append(.now) }
        guard failsWatches.load(ordering: .relaxed) else {
            return HeldEvents.stream(try await store.watch(prefix: prefix, fromRevision: fromRevision), store: self)
        }
        throw .unavailable(reason: "injected: the history cannot be read")
    }
    func watch(prefix: String, fromReached revision: Int64) async throws(StoreError) -> WatchStream {
        watchTimes.withLock { $0.append(.now) }
        guard failsWatches.load(ordering: .relaxed) else {
            return HeldEvents.stream(try await store.watch(prefix: prefix, fromReached: revision), store: self)
        }
        throw .unavailable(reason: "injected: the history cannot be read")
    }
    func compact(_ revision: Int64) async throws(StoreError) { try await store.compact(revision) }
    func currentRevision() async throws(StoreError) -> Int64 { try await store.currentRevision() }
    func checkWritable() async throws(StoreError) {
        checks.add(1, ordering: .relaxed)
        await Task.detached { [self] in
            while checksHang.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(10)) }
        }.value
        try await store.checkWritable()
    }
    func grantLease(ttl: Duration) async throws(StoreError) -> Int64 { try await store.grantLease(ttl: ttl) }
    func keepAlive(_ lease: Int64) async throws(StoreError) -> Duration { try await store.keepAlive(lease) }
    func revokeLease(_ lease: Int64) async throws(StoreError) { try await store.revokeLease(lease) }
    var revisionIsShared: Bool { sharesRevision.load(ordering: .relaxed) || store.revisionIsShared }
}

/// A watch whose events wait while `FaultyStore.holdsEvents` is set.
final class HeldEvents: WatchEventSource {
    let handle: WatchHandle
    let store: FaultyStore

    init(handle: WatchHandle, store: FaultyStore) {
        self.handle = handle
        self.store = store
    }

    static func stream(_ stream: WatchStream, store: FaultyStore) -> WatchStream {
        WatchStream(source: HeldEvents(handle: stream.handle, store: store))
    }

    private func waitWhileHeld() async {
        while store.holdsEvents.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(10)) }
    }

    // Held after the wait too: a call already waiting when the hold began gets its event late.
    func next() async throws(StoreError) -> WatchEvent? {
        let event = try await handle.source.next()
        await waitWhileHeld()
        return event
    }

    func nextBatch(limit: Int) async throws(StoreError) -> [WatchEvent]? {
        let events = try await handle.source.nextBatch(limit: limit)
        await waitWhileHeld()
        return events
    }

    func cancel() { handle.source.cancel() }
}

@Suite("Store faults: the feed's retries and health")
struct StoreFaultTests {
    @Test("a store that lists but whose watch fails at once is retried with a growing pause, and the failure is reported")
    func growingPause() async throws {
        try await withTemporaryDirectory { directory in
            let sqlite = try await SQLiteStore.open(directory: directory)
            let store = FaultyStore(sqlite)
            _ = try await store.create("/registry/pods/default/p", value: [])
            let progress = CacheProgress()
            let cache = WatchCache(codec: PodStrategy.codec, limits: WatchCache.Limits(), progress: progress)
            let feed = CacheFeed(
                store: store, caches: [cache], progress: progress, historyRevisions: 0, maxBackoff: .milliseconds(400))
            let running = Task { await feed.run() }
            // The pauses are 20, 40, 80, 160, 320 and then 400 ms: the sixth try comes at least
            // 300 ms after the fifth. (Starting again from 20 ms after every listing that worked,
            // they came about 20 ms apart.) A loaded machine only lengthens the pauses.
            #expect(await eventually(timeout: .seconds(60)) { store.watchTimes.withLock { $0.count } >= 6 })
            running.cancel()
            await running.value
            let times = store.watchTimes.withLock { $0 }
            #expect(times.count >= 6 && times[4].duration(to: times[5]) >= .milliseconds(300), "\(times)")
            #expect(feed.lastFailure?.reason.contains("injected") == true)
            await sqlite.close()
        }
    }

    @Test("health is NOT_SERVING while the caches cannot follow a store that still takes writes", .timeLimit(.minutes(1)))
    func healthFollowsTheFeed() async throws {
        try await withTemporaryDirectory { directory in
            let sqlite = try await SQLiteStore.open(directory: directory)
            let store = FaultyStore(sqlite)
            let host = try await APIServerHost.start(store: store, closeStore: { await sqlite.close() }, options: testOptions())
            let clients = try HTTP2Clients(address: host.address)
            let health = Grpc_Health_V1_Health.Client(clients.api.rpc)
            var request = Grpc_Health_V1_HealthCheckRequest()
            request.service = Pods.serviceName
            // The store takes writes (its own probe passes), but nothing written reaches the caches.
            #expect(await eventually { (try? await health.check(request).status) == .notServing }, "health stayed SERVING")
            try await sqlite.checkWritable()
            // Once the store can be followed again, and a change came through, health recovers
            // at the next probe (not only when the last failure has aged).
            store.failsWatches.store(false, ordering: .relaxed)
            let created = try await clients.api.pods.create(Make.pod("after"))
            #expect(await eventually { (try? await clients.api.pods.get(Make.get("after"))) == created })
            // The cache applied the create: the feed's failure no longer counts.
            #expect(host.api.storeFeedFailure == nil)
            #expect(await eventually { (try? await health.check(request).status) == .serving }, "health stayed NOT_SERVING")
            await clients.close()
            await host.stop()
        }
    }

    /// A client told that its write "may still take effect: read the object before repeating it"
    /// reads it back: while the caches have not reached the store's head that read must not
    /// answer from them (a create answered NOT_FOUND, until they caught up), for creates, updates
    /// and deletes alike, until the window after the write has passed.
    @Test("after a write of unknown outcome, reads wait for the store's head", .timeLimit(.minutes(1)))
    func readsAfterAnUncertainWrite() async throws {
        try await withTemporaryDirectory { directory in
            let sqlite = try await SQLiteStore.open(directory: directory)
            let store = FaultyStore(sqlite, failsWatches: false)
            let host = try await APIServerHost.start(
                store: store, closeStore: { await sqlite.close() },
                options: testOptions {
                    $0.readWaitTimeout = .seconds(2)
                    $0.uncertainReadWindow = .seconds(6)
                })
            let clients = try HTTP2Clients(address: host.address)
            var before = try await clients.api.pods.create(Make.pod("before"))
            // Each write lands while the caches fall behind the store without failing (their feed
            // does not know), and its client hears that the outcome is unknown.
            func uncertain(_ write: () async throws -> Void) async throws {
                store.holdsEvents.store(true, ordering: .relaxed)
                store.writesLandUncertain.store(true, ordering: .relaxed)
                let error = await rpcError { try await write() }
                #expect(error.code == .unavailable && error.message.contains(EtcdStore.mayTakeEffect), "\(error)")
                store.writesLandUncertain.store(false, ordering: .relaxed)
                // Not the caches' stale answer: they have not reached the store's head.
                let get = await rpcError { _ = try await clients.api.pods.get(Make.get("a")) }
                #expect(get.code == .unavailable, "\(get)")
                let list = await rpcError { _ = try await clients.api.pods.list(Make.list()) }
                #expect(list.code == .unavailable, "\(list)")
                store.holdsEvents.store(false, ordering: .relaxed)
            }
            try await uncertain { _ = try await clients.api.pods.create(Make.pod("a")) }
            #expect(await eventually { (try? await clients.api.pods.get(Make.get("a")))?.metadata.name == "a" })
            before.metadata.labels = ["changed": "yes"]
            try await uncertain { _ = try await clients.api.pods.update(before) }
            #expect(await eventually { (try? await clients.api.pods.get(Make.get("before")))?.metadata.labels == ["changed": "yes"] })
            try await uncertain { _ = try await clients.api.pods.delete(Make.delete("before")) }
            #expect(try await clients.api.pods.list(Make.list()).items.map(\.metadata.name) == ["a"])

            // Past the window, reads are the caches' again: a Get does not wait for the store.
            try await Task.sleep(for: .seconds(6))
            #expect(host.api.progress.uncertainWriteAt == nil)
            await clients.close()
            await host.stop()
        }
    }

    /// On a store whose revision others move too, the head a read waits for after a write of
    /// unknown outcome is the feed's fence: another program's revision, which no registry event
    /// brings, would keep every read waiting until its timeout.
    @Test("after a write of unknown outcome on a shared store, reads wait for a fence, not another program's revision", .timeLimit(.minutes(1)))
    func uncertainWriteOnASharedStore() async throws {
        try await withTemporaryDirectory { directory in
            let sqlite = try await SQLiteStore.open(directory: directory)
            let store = FaultyStore(sqlite, failsWatches: false)
            store.sharesRevision.store(true, ordering: .relaxed)
            let host = try await APIServerHost.start(
                store: store, closeStore: { await sqlite.close() }, options: testOptions { $0.readWaitTimeout = .seconds(2) })
            let clients = try HTTP2Clients(address: host.address)
            store.writesLandUncertain.store(true, ordering: .relaxed)
            _ = await rpcError { _ = try await clients.api.pods.create(Make.pod("a")) }
            store.writesLandUncertain.store(false, ordering: .relaxed)
            // Another program's write moves the head past every registry event.
            _ = try await sqlite.create("/other/key", value: [1])
            // (Waiting for that revision, it failed UNAVAILABLE at the 2 s read wait.)
            #expect(try await clients.api.pods.get(Make.get("a")).metadata.name == "a")
            await clients.close()
            await host.stop()
        }
    }

    /// A server whose store could not be listed at first turned SERVING once its caches listed
    /// it, then NOT_SERVING at the next probe for about a second (the feed's failure from before
    /// the listing still counted), then SERVING again: a false outage for load balancers.
    @Test("a server that turns ready after failing to list its store stays SERVING", .timeLimit(.minutes(1)))
    func readyAfterFailedListings() async throws {
        try await withTemporaryDirectory { directory in
            let sqlite = try await SQLiteStore.open(directory: directory)
            let store = FaultyStore(sqlite, failsWatches: false)
            // Something to list (an empty store is not listed).
            _ = try await store.create("/registry/pods/default/p", value: [])
            store.failsLists.store(true, ordering: .relaxed)
            let options = testOptions {
                $0.storeProbeInterval = .milliseconds(100)
                $0.storeProbeTimeout = .seconds(1)
                // The caches list the store at its head (with history they would replay a young
                // store's every change from revision 0, without a listing).
                $0.historyRevisions = 0
            }
            let host = try await APIServerHost.start(
                store: store, closeStore: { await sqlite.close() }, options: options, waitUntilReady: false)
            let clients = try HTTP2Clients(address: host.address)
            do {
                let health = Grpc_Health_V1_Health.Client(clients.api.rpc)
                let request = Grpc_Health_V1_HealthCheckRequest()
                #expect(await eventually { store.listFailures.load(ordering: .relaxed) >= 3 })
                #expect(try await health.check(request).status == .notServing)
                // Every change of status from here on (Health/Watch sends each one), so a SERVING
                // that lasted one probe interval cannot be missed.
                let changes = try await health.watch(request)
                let seen = Mutex<[Grpc_Health_V1_HealthCheckResponse.ServingStatus]>([])
                let collecting = Task {
                    for try await change in changes { seen.withLock { $0.append(change.status) } }
                }
                #expect(await eventually { seen.withLock { $0 } == [.notServing] })
                store.failsLists.store(false, ordering: .relaxed)
                #expect(await eventually(timeout: .seconds(20)) { seen.withLock { $0.contains(.serving) } })
                // Probes every 100 ms; the failure from before the listing would have counted for
                // up to a second more. Any change after SERVING within 2 s is a flap.
                try await Task.sleep(for: .seconds(2))
                changes.cancel()
                _ = try? await collecting.value
                #expect(seen.withLock { $0 } == [.notServing, .serving])
            } catch {
                Issue.record("\(error)")
            }
            store.failsLists.store(false, ordering: .relaxed)
            await clients.close()
            await host.stop()
        }
    }

    @Test("store calls that hang past the probe's timeout are not followed by more than one other until they return", .timeLimit(.minutes(1)))
    func hungProbesDoNotPileUp() async throws {
        try await withTemporaryDirectory { directory in
            let sqlite = try await SQLiteStore.open(directory: directory)
            let store = FaultyStore(sqlite, failsWatches: false)
            try await withProbedServer(store: store, closeStore: { await sqlite.close() }) { api in
                let health = Grpc_Health_V1_Health.Client(api.rpc)
                #expect(try await health.check(Grpc_Health_V1_HealthCheckRequest()).status == .serving)
                store.checksHang.store(true, ordering: .relaxed)
                let before = store.checks.load(ordering: .relaxed)
                // Probes every 100 ms, each bounded by 1 s: four seconds would start four calls.
                // Two may hang (the second in case the first was only caught in an outage that
                // has ended since), no more.
                #expect(await eventually { (try? await health.check(Grpc_Health_V1_HealthCheckRequest()).status) == .notServing })
                try await Task.sleep(for: .seconds(4))
                #expect(store.checks.load(ordering: .relaxed) - before <= 2, "\(store.checks.load(ordering: .relaxed) - before) calls")
                store.checksHang.store(false, ordering: .relaxed)
                #expect(await eventually { (try? await health.check(Grpc_Health_V1_HealthCheckRequest()).status) == .serving })
            }
        }
    }
}
