import CapstanAPI
import CapstanAPIServer
import CapstanAPIServerHost
import CapstanEtcdLauncher
import CapstanRPC
import CapstanStore
import CapstanTestSupport
import CapstanWire
import Foundation
import Synchronization
import Testing

/// An API server whose only etcd member is SIGKILLed and comes back: while it is gone writes fail
/// promptly with UNAVAILABLE (retryable, naming etcd) and write nothing, reads are served from the
/// cache, which holds every write this server acknowledged, and health reports the server and
/// its API services NOT_SERVING; once etcd is back health is SERVING again, the same server
/// takes writes again, and a watch opened before the outage gets every later change, once, in
/// order. (An outage longer than `EtcdStoreOptions.watchReconnectTimeout`, 60 s, ends watches
/// with UNAVAILABLE instead; the cache then relists.)
@Suite("API server through an etcd outage", .serialized)
struct EtcdOutageTests {
    @Test(.timeLimit(.minutes(3)))
    func serverOutlivesEtcdRestart() async throws {
        try await Self.withServer(EtcdStoreOptions(), Self.exercise)
    }

    /// Runs `body` against an API server (store probe every 100 ms, `adjust` applied to its
    /// options) on a one-member etcd cluster reached with `storeOptions`, through `wrap`; a
    /// failure is recorded with etcd's log.
    static func withServer(
        _ storeOptions: EtcdStoreOptions, wrap: (EtcdStore) -> any Store = { $0 },
        options adjust: (inout APIServerOptions) -> Void = { _ in },
        _ body: (APIClients, EtcdCluster) async throws -> Void
    ) async throws {
        try #require(EtcdCluster.isAvailable, "etcd is not installed: run `make deps` (Debian package etcd-server)")
        try await withEtcdCluster(members: 1) { cluster in
            let member = cluster.members[0]
            let etcd = try EtcdStore(endpoints: [member.clientAddress], options: storeOptions)
            try await withProbedServer(store: wrap(etcd), closeStore: { await etcd.close() }, options: adjust) { api in
                do {
                    try await body(api, cluster)
                } catch {
                    Issue.record("\(error)\netcd's log:\n\(member.logTail())")
                }
            }
        }
    }

    /// Past the store watch's reconnect bound (1 s here, 60 s by default) the feed gives up on
    /// its watch: watches end UNAVAILABLE and reads fail the same way (the cache cannot tell what
    /// it is missing). Once etcd is back the caches carry on from the revision they had reached,
    /// with their history: a watch resumed from its last revision (or from before the outage)
    /// gets every later change, not OUT_OF_RANGE, so no client has to list again.
    @Test(.timeLimit(.minutes(3)))
    func cachesCarryOnAfterALongOutage() async throws {
        try await Self.withServer(Self.shortWatchReconnect, Self.outlast)
    }

    /// Store options whose watch gives up reconnecting after 1 s (60 s by default).
    static var shortWatchReconnect: EtcdStoreOptions {
        var options = EtcdStoreOptions()
        options.watchReconnectTimeout = .seconds(1)
        return options
    }

    static func outlast(_ api: APIClients, cluster: EtcdCluster) async throws {
        let member = cluster.members[0]
        var before: [Pod] = []
        for index in 0..<3 { before.append(try await api.pods.create(Make.pod("before\(index)"))) }
        #expect(try await api.pods.get(Make.get("before2")) == before[2])
        let watch = WatchReader(try await api.pods.watch(Make.watch(from: before[0].metadata.resourceVersion)))
        let seen = try await watch.next(2).map(\.object)
        #expect(seen == Array(before[1...]))

        await member.kill()
        let ended = await rpcError { while try await watch.next(seconds: 30) != nil {} }
        #expect(ended.code == .unavailable, "\(ended)")
        let get = await rpcError { _ = try await api.pods.get(Make.get("before0")) }
        #expect(get.code == .unavailable, "\(get)")
        let watchDuring = await rpcError {
            let reader = WatchReader(try await api.pods.watch(Make.watch(initial: true)))
            defer { reader.cancel() }
            _ = try await reader.next(seconds: 30)
        }
        #expect(watchDuring.code == .unavailable, "\(watchDuring)")

        try await member.start()
        try await cluster.waitUntilHealthy()
        // Another API server's write, as soon as etcd is back (this server's store client is
        // still backing off): the store moved on while the caches could not follow.
        var elsewhere = Make.pod("elsewhere")
        elsewhere.metadata.namespace = "default"
        elsewhere.metadata.uid = "uid-elsewhere"
        let other = try await EtcdStore.connect(endpoints: [member.clientAddress])
        let written = try await other.create("/registry/pods/default/elsewhere", value: elsewhere.serializedBytes())
        await other.close()
        elsewhere.metadata.resourceVersion = UInt64(written)
        var after: [Pod] = [try await Self.createOnceBack(api, "after0")]
        for index in 1..<3 { after.append(try await api.pods.create(Make.pod("after\(index)"))) }
        #expect(try await api.pods.get(Make.get("after2")) == after[2])
        #expect(try await api.pods.get(Make.get("before0")) == before[0])

        let resumed = WatchReader(try await api.pods.watch(Make.watch(from: seen.last!.metadata.resourceVersion)))
        #expect(try await resumed.next(4).map(\.object) == [elsewhere] + after)
        resumed.cancel()
        // The history from before the outage is still there, too.
        let replayed = WatchReader(try await api.pods.watch(Make.watch(from: before[0].metadata.resourceVersion)))
        #expect(try await replayed.next(6).map(\.object) == Array(before[1...]) + [elsewhere] + after)
        replayed.cancel()
    }

    /// etcd replaced by an older copy of itself (a restored backup) while the API server runs:
    /// the caches list it again, and what they tell clients belongs to the restored history, not
    /// to the one that is gone. A List's resource version is one the store has, and a watch from
    /// it gets the next change.
    @Test(.timeLimit(.minutes(3)))
    func cachesListAgainWhenTheStoreGoesBack() async throws {
        try await Self.withServer(Self.shortWatchReconnect, Self.goBack)
    }

    static func goBack(_ api: APIClients, cluster: EtcdCluster) async throws {
        let member = cluster.members[0]
        let backup = try await Self.backUpThenLoseWrites(api, cluster: cluster)
        // The restore, with the member down for longer than the store watch's reconnect bound.
        try await Self.restore(member, from: backup)
        try await Task.sleep(for: .seconds(2))
        try await member.start()
        try await cluster.waitUntilHealthy()

        var listed: PodList?
        for _ in 0..<600 {
            if let list = try? await api.pods.list(Make.list()), list.items.map(\.metadata.name) == ["kept"] {
                listed = list
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let list = try #require(listed, "the caches never listed the restored store")
        let store = try await EtcdStore.connect(endpoints: [member.clientAddress])
        let head = try await store.currentRevision()
        await store.close()
        #expect(Int64(list.resourceVersion) <= head, "a List at \(list.resourceVersion) from a store at \(head)")
        let watch = WatchReader(try await api.pods.watch(Make.watch(from: list.resourceVersion)))
        defer { watch.cancel() }
        let next = try await Self.createOnceBack(api, "next")
        #expect(try await watch.next(seconds: 30)?.object == next)
    }

    /// The same restore while the caches were behind this server's latest writes (its feed could
    /// not follow the store when they were acknowledged: under load it may be backing off, or
    /// its watch may lag): the restored store is not behind the revision the caches reached,
    /// only behind the write mark. The writes above its head are lost, and reads answer the
    /// restored store rather than wait for them. (Before, the mark stayed at the lost writes:
    /// every read waited for it until its timeout: cachesListAgainWhenTheStoreGoesBack hung in
    /// loaded runs.)
    @Test(.timeLimit(.minutes(3)))
    func readsDoNotWaitForWritesTheStoreLost() async throws {
        try await Self.withFaultyServer(Self.goBackBehindTheWrites)
    }

    /// As `withServer` with a short watch reconnect and a 5 s read wait, the etcd store wrapped
    /// in a `FaultyStore` (no fault set) that `body` gets too.
    static func withFaultyServer(_ body: (APIClients, EtcdCluster, FaultyStore) async throws -> Void) async throws {
        let faulty = Mutex<FaultyStore?>(nil)
        try await Self.withServer(
            Self.shortWatchReconnect,
            wrap: { etcd in
                let store = FaultyStore(etcd, failsWatches: false)
                faulty.withLock { $0 = store }
                return store
            },
            options: { $0.readWaitTimeout = .seconds(5) }
        ) { api, cluster in
            try await body(api, cluster, try #require(faulty.withLock { $0 }))
        }
    }

    static func goBackBehindTheWrites(_ api: APIClients, cluster: EtcdCluster, store: FaultyStore) async throws {
        let member = cluster.members[0]
        _ = try await api.pods.create(Make.pod("kept"))
        #expect(try await api.pods.list(Make.list()).items.map(\.metadata.name) == ["kept"])
        // From now on the feed cannot watch the store: once its watch breaks, the caches stay at
        // the revision of "kept", which the backup holds too.
        store.failsWatches.store(true, ordering: .relaxed)
        let backup = try await Self.backUp(member)
        // The feed gave up its watch (after 1 s): the caches fail reads.
        #expect(await eventually(timeout: .seconds(60)) { (try? await api.pods.get(Make.get("kept"))) == nil })
        try await member.start()
        try await cluster.waitUntilHealthy()
        // Acknowledged, but never applied by the caches.
        try await Self.createLostPods(api)
        try await Self.restore(member, from: backup)
        try await member.start()
        try await cluster.waitUntilHealthy()
        store.failsWatches.store(false, ordering: .relaxed)

        // Each try waits at most 5 s (the read wait); the whole at most 60 s.
        let list = try await Self.firstAnswer(within: .seconds(60)) { try await api.pods.list(Make.list()) }
        #expect(list.items.map(\.metadata.name) == ["kept"])
        let etcd = try await EtcdStore.connect(endpoints: [member.clientAddress])
        let head = try await etcd.currentRevision()
        await etcd.close()
        #expect(Int64(list.resourceVersion) <= head, "a List at \(list.resourceVersion) from a store at \(head)")
        let watch = WatchReader(try await api.pods.watch(Make.watch(from: list.resourceVersion)))
        defer { watch.cancel() }
        let next = try await api.pods.create(Make.pod("next"))
        #expect(try await watch.next(seconds: 30)?.object == next)
        #expect(try await api.pods.get(Make.get("next")) == next)
    }

    /// A store that went back behind the caches is listed anew, even when that listing fails
    /// at first and the store's head meanwhile climbs back past the revision the caches had
    /// reached. (Before, the failed listing left the feed to resume the caches' lost state once
    /// the head was back there: the lost pods stayed in every List.)
    @Test(.timeLimit(.minutes(3)))
    func aFailedListingAfterGoingBackIsRetried() async throws {
        try await Self.withFaultyServer { api, cluster, store in
            let member = cluster.members[0]
            let backup = try await Self.backUpThenLoseWrites(api, cluster: cluster)
            #expect(try await Self.firstAnswer(within: .seconds(60)) { try await api.pods.list(Make.list()) }.items.count == 4)
            // The restore; the feed's first listing of the restored store fails.
            store.failsLists.store(true, ordering: .relaxed)
            try await Self.restore(member, from: backup)
            try await Task.sleep(for: .seconds(2))
            try await member.start()
            try await cluster.waitUntilHealthy()
            #expect(await eventually(timeout: .seconds(60)) { store.listFailures.load(ordering: .relaxed) > 0 })
            // Other writers take the head past every lost revision before the listing works again.
            let other = try await EtcdStore.connect(endpoints: [member.clientAddress])
            for index in 0..<20 { _ = try await other.create("/other/k\(index)", value: [1]) }
            await other.close()
            store.failsLists.store(false, ordering: .relaxed)
            let list = try await Self.firstAnswer(within: .seconds(60)) { try await api.pods.list(Make.list()) }
            #expect(list.items.map(\.metadata.name) == ["kept"])
        }
    }

    /// On an etcd whose revision others move too (keys outside the registry, which the feed does
    /// not watch), a feed that follows the store again after a failure marks a head of its own
    /// (the fence key) as the read floor. The store's plain head was another program's write: no
    /// event of the feed's watch reached it, and every read waited for it until its timeout.
    @Test(.timeLimit(.minutes(3)))
    func resumeOnASharedEtcdMarksItsOwnHead() async throws {
        try await Self.withServer(Self.shortWatchReconnect, options: { $0.readWaitTimeout = .seconds(5) }, Self.othersWrite)
    }

    static func othersWrite(_ api: APIClients, cluster: EtcdCluster) async throws {
        let member = cluster.members[0]
        let created = try await api.pods.create(Make.pod("p"))
        #expect(try await api.pods.get(Make.get("p")) == created)
        let other = try await EtcdStore.connect(endpoints: [member.clientAddress])
        for index in 0..<5 { _ = try await other.create("/other/k\(index)", value: [1]) }
        await other.close()
        // Followed, the feed needs no event of those writes: reads answer at once.
        #expect(try await api.pods.get(Make.get("p")) == created)
        await member.kill()
        // The feed gave up its watch (after 1 s): the caches fail reads.
        #expect(await eventually(timeout: .seconds(60)) { (try? await api.pods.get(Make.get("p"))) == nil })
        try await member.start()
        try await cluster.waitUntilHealthy()
        // Each try waits at most 5 s (the read wait); the whole at most 60 s.
        #expect(try await Self.firstAnswer(within: .seconds(60)) { try await api.pods.get(Make.get("p")) } == created)
        #expect(try await api.pods.list(Make.list()).items.map(\.metadata.name) == ["p"])
    }

    /// The first answer `call` gives, trying again 100 ms after each failure until `bound` has
    /// passed; then its last error.
    static func firstAnswer<T>(within bound: Duration, _ call: () async throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + bound
        while true {
            do {
                return try await call()
            } catch {
                guard ContinuousClock.now < deadline else { throw error }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// etcd's NOSPACE alarm (raised here through its Maintenance API; a full space quota raises the
    /// same): etcd refuses every write and still answers reads. Health turns NOT_SERVING naming the
    /// alarm's remedy, creates fail UNAVAILABLE, and Get is served from the cache; once the alarm
    /// is cleared, health is SERVING again and writes succeed.
    @Test(.timeLimit(.minutes(3)))
    func healthFollowsEtcdAlarms() async throws {
        try await Self.withServer(EtcdStoreOptions(), Self.alarm)
    }

    static func alarm(_ api: APIClients, cluster: EtcdCluster) async throws {
        let before = try await api.pods.create(Make.pod("before"))
        let health = Grpc_Health_V1_Health.Client(api.rpc)
        var request = Grpc_Health_V1_HealthCheckRequest()
        request.service = Pods.serviceName
        #expect(try await health.check(request).status == .serving)

        let member = try await Self.nospace(.activate, on: cluster)

        #expect(await eventually { (try? await health.check(request).status) == .notServing }, "health stayed SERVING")
        let create = await rpcError { _ = try await api.pods.create(Make.pod("during")) }
        #expect(create.code == .unavailable && create.message.contains("space"), "\(create)")
        // etcd answered that it did not apply it: a definite failure, so reads the caches can
        // answer are still served (no wait for the store's head, which the alarm would fail).
        #expect(!create.message.contains(EtcdStore.mayTakeEffect), "\(create)")
        #expect(try await api.pods.get(Make.get("before")) == before)
        let reason = await storeError(of: cluster)
        let named = "NOSPACE on member \(String(member, radix: 16))"
        #expect(reason?.contains(named) == true, "\(String(describing: reason))")

        _ = try await Self.nospace(.deactivate, on: cluster)
        #expect(await eventually { (try? await health.check(request).status) == .serving }, "health stayed NOT_SERVING")
        let after = try await api.pods.create(Make.pod("after"))
        #expect(try await api.pods.list(Make.list()).items == [after, before])
    }

    /// Raises or clears NOSPACE on `cluster`'s first member through etcd's own Maintenance API;
    /// returns the member's id.
    private static func nospace(_ action: Etcdserverpb_AlarmRequest.AlarmAction, on cluster: EtcdCluster)
        async throws -> UInt64
    {
        try await withFirstMember(of: cluster) { rpc in
            var probe = Etcdserverpb_RangeRequest()
            probe.key = Array("/".utf8)
            var alarm = Etcdserverpb_AlarmRequest()
            alarm.memberID = try await Etcdserverpb_KV.Client(rpc).range(probe).header.memberId
            alarm.alarm = .nospace
            alarm.action = action
            _ = try await Etcdserverpb_Maintenance.Client(rpc).alarm(alarm)
            return alarm.memberID
        }
    }

    /// Runs `body` with a client of `cluster`'s first member, which it closes however `body` ends.
    private static func withFirstMember<T>(of cluster: EtcdCluster, _ body: (RPCClient) async throws -> T)
        async throws -> T
    {
        let etcd = try HTTP2Clients(address: cluster.members[0].clientAddress)
        return try await withCleanup({ await etcd.close() }) { try await body(etcd.api.rpc) }
    }

    /// The writability check (the health probe's, once a second) only reads: however often it
    /// runs, a quiet cluster's raft log does not grow.
    @Test(.timeLimit(.minutes(2)))
    func writabilityCheckAddsNoRaftEntries() async throws {
        try #require(EtcdCluster.isAvailable, "etcd is not installed: run `make deps` (Debian package etcd-server)")
        try await withEtcdCluster(members: 1) { cluster in
            let store = try await EtcdStore.connect(endpoints: cluster.clientAddresses)
            try await withCleanup({ await store.close() }) {
                try await Self.withFirstMember(of: cluster) { rpc in
                    let maintenance = Etcdserverpb_Maintenance.Client(rpc)
                    // etcd commits a few entries of its own just after it starts (cluster version,
                    // member attributes): wait until its index holds still.
                    var index = try await maintenance.status(Etcdserverpb_StatusRequest()).raftIndex
                    for _ in 0..<40 {
                        try await Task.sleep(for: .milliseconds(250))
                        let now = try await maintenance.status(Etcdserverpb_StatusRequest()).raftIndex
                        if now == index { break }
                        index = now
                    }
                    for _ in 0..<10 { try await store.checkWritable() }
                    let after = try await maintenance.status(Etcdserverpb_StatusRequest())
                    #expect(after.raftIndex == index, "the checks added \(after.raftIndex - index) raft entries")
                    #expect(after.errors.isEmpty && after.leader != 0)
                }
            }
        }
    }

    /// Why a store of its own on `cluster` says it cannot take writes now (nil: it can).
    private static func storeError(of cluster: EtcdCluster) async -> String? {
        let store: EtcdStore
        do {
            store = try await EtcdStore.connect(endpoints: cluster.clientAddresses)
        } catch {
            return "connect failed: \(error)"
        }
        var reason: String?
        do throws(StoreError) {
            try await store.checkWritable()
        } catch {
            reason = "\(error)"
        }
        await store.close()
        return reason
    }

    /// While the caches load the store the server already accepts calls, but health says
    /// NOT_SERVING (for the server and its API services) until they hold it.
    @Test(.timeLimit(.minutes(3)))
    func notServingUntilReady() async throws {
        try #require(EtcdCluster.isAvailable, "etcd is not installed: run `make deps` (Debian package etcd-server)")
        try await withEtcdCluster(members: 1) { cluster in
            let member = cluster.members[0]
            let port = try restartablePort()
            member.freeze()
            let starting = Task {
                try await APIServerHost.start(store: .etcd([member.clientAddress]), port: port, options: testOptions())
            }
            let clients = try HTTP2Clients(address: "127.0.0.1:\(port)")
            let health = Grpc_Health_V1_Health.Client(clients.api.rpc)
            var request = Grpc_Health_V1_HealthCheckRequest()
            request.service = Pods.serviceName
            let pods = request
            // Once the listener answers (the caches cannot load: etcd is frozen).
            let early = try await bounded("the listener") { () -> Grpc_Health_V1_HealthCheckResponse in
                while true {
                    if let answer = try? await health.check(pods) { return answer }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            #expect(early.status == .notServing)
            #expect(try await health.check(Grpc_Health_V1_HealthCheckRequest()).status == .notServing)
            member.thaw()
            let host = try await bounded("the server to start") { try await starting.value }
            #expect(try await health.check(pods).status == .serving)
            #expect(try await health.check(Grpc_Health_V1_HealthCheckRequest()).status == .serving)
            await clients.close()
            await host.stop()
        }
    }

    static func exercise(_ api: APIClients, cluster: EtcdCluster) async throws {
        let member = cluster.members[0]
        var before: [Pod] = []
        for index in 0..<3 { before.append(try await api.pods.create(Make.pod("before\(index)"))) }
        // A read through this server waits for its cache to hold its own writes.
        #expect(try await api.pods.get(Make.get("before2")) == before[2])
        let watch = WatchReader(try await api.pods.watch(Make.watch(from: before[0].metadata.resourceVersion)))
        var seen = try await watch.next(2).map(\.object)
        #expect(seen == Array(before[1...]))
        let health = Grpc_Health_V1_Health.Client(api.rpc)
        var request = Grpc_Health_V1_HealthCheckRequest()
        request.service = Pods.serviceName
        let statuses = WatchReader(try await health.watch(request))
        #expect(try await statuses.next()?.status == .serving)
        #expect(try await health.check(Grpc_Health_V1_HealthCheckRequest()).status == .serving)

        await member.kill()
        // The store probe notices: the server and its API services turn NOT_SERVING.
        #expect(try await statuses.next()?.status == .notServing)
        #expect(try await health.check(Grpc_Health_V1_HealthCheckRequest()).status == .notServing)
        let short = CallOptions(timeout: .seconds(20))
        let create = await rpcError { _ = try await api.pods.create(Make.pod("during"), options: short) }
        #expect(create.code == .unavailable, "\(create)")
        #expect(create.message.contains("etcd"), "\(create)")
        // No member was reachable: the create never went out, and the message does not hedge.
        #expect(!create.message.contains(EtcdStore.mayTakeEffect), "\(create)")
        // An update, which reads the store first, is refused as promptly: the probe's finding
        // answers it, not the store's read retries.
        var changed = before[0]
        changed.metadata.labels = ["during": "outage"]
        let update = await rpcError { _ = try await api.pods.update(changed, options: short) }
        #expect(update.code == .unavailable && update.message.contains("the store is failing"), "\(update)")
        // The cache holds every write this server acknowledged: reads go on from it.
        #expect(try await api.pods.get(Make.get("before0"), options: short) == before[0])
        #expect(try await api.pods.list(Make.list(), options: short).items == before)

        try await member.start()
        try await cluster.waitUntilHealthy()
        #expect(try await statuses.next()?.status == .serving)
        statuses.cancel()
        // The server reconnects by itself (with backoff); until then writes stay UNAVAILABLE.
        var after: [Pod] = [try await Self.createOnceBack(api, "after0")]
        for index in 1..<3 { after.append(try await api.pods.create(Make.pod("after\(index)"))) }

        // The watch opened before the outage stayed open (its store watch resumed from the
        // revision it had reached) and now gets exactly the later writes, in order.
        seen = try await watch.next(3).map(\.object)
        #expect(seen == after)
        watch.cancel()
        let names = try await api.pods.list(Make.list()).items.map(\.metadata.name)
        #expect(names == ["after0", "after1", "after2", "before0", "before1", "before2"])
    }

    /// Creates `name` as soon as the server's store is reachable again (at most 60 s), retrying
    /// only UNAVAILABLE that says nothing was sent to etcd.
    /// The backup of a restore: stops `member` and copies its data directory (the caller starts
    /// it again); returns the copy's path.
    static func backUp(_ member: EtcdMember) async throws -> String {
        let backup = member.dataDirectory + "-backup"
        await member.stop()
        try FileManager.default.copyItem(atPath: member.dataDirectory, toPath: backup)
        return backup
    }

    /// The restore: kills `member` and puts `backup` in place of its data directory (the caller
    /// starts it again).
    static func restore(_ member: EtcdMember, from backup: String) async throws {
        await member.kill()
        try FileManager.default.removeItem(atPath: member.dataDirectory)
        try FileManager.default.moveItem(atPath: backup, toPath: member.dataDirectory)
    }

    /// Pods `lost0`…`lost2`, written after a backup that the test restores: the first waits for
    /// the member that just came back.
    /// Creates "kept", backs the only member up (`backUp`), starts it again and creates the
    /// pods a restore of that backup loses (`createLostPods`); returns the backup.
    static func backUpThenLoseWrites(_ api: APIClients, cluster: EtcdCluster) async throws -> String {
        let member = cluster.members[0]
        _ = try await api.pods.create(Make.pod("kept"))
        let backup = try await Self.backUp(member)
        try await member.start()
        try await cluster.waitUntilHealthy()
        try await Self.createLostPods(api)
        return backup
    }

    static func createLostPods(_ api: APIClients) async throws {
        _ = try await Self.createOnceBack(api, "lost0")
        for index in 1..<3 { _ = try await api.pods.create(Make.pod("lost\(index)")) }
    }

    static func createOnceBack(_ api: APIClients, _ name: String) async throws -> Pod {
        let start = ContinuousClock.now
        while true {
            do {
                return try await api.pods.create(Make.pod(name))
            } catch let error as RPCError
                where error.code == .unavailable && error.message.contains("no target is reachable")
            {
                guard ContinuousClock.now - start < .seconds(60) else { throw error }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}
