import CapstanAPI
import CapstanAPIServer
import CapstanAPIServerHost
import CapstanEtcdLauncher
import CapstanRPC
import CapstanStore
import CapstanTestSupport
import Synchronization
import Testing

/// Reads that reach an API server before its watch caches first listed the store (see
/// `CacheProgress`): while the store answers they wait for the listing, through a failed attempt
/// the next one gets past; once the store cannot be reached they fail UNAVAILABLE at once,
/// naming the store's error, instead of at their deadline.
@Suite("Reads before the caches listed the store", .serialized)
struct UnlistedStoreTests {
    /// An API server started on an etcd that is down listens at once; a read (List, Get, Watch)
    /// is answered UNAVAILABLE naming the store and saying to retry, well before its 20 s
    /// deadline (before, it waited for the listing until DEADLINE_EXCEEDED). Once etcd is up the
    /// caches list it and reads are served.
    @Test(.timeLimit(.minutes(3)))
    func readsFailPromptlyWhileEtcdIsDown() async throws {
        try #require(EtcdCluster.isAvailable, "etcd is not installed: run `make deps` (Debian package etcd-server)")
        try await withEtcdCluster(members: 1) { cluster in
            let member = cluster.members[0]
            await member.stop()
            let address = member.clientAddress
            let host = try await bounded("the server to listen") {
                try await APIServerHost.start(store: .etcd([address]), options: testOptions(), waitUntilReady: false)
            }
            let clients = try HTTP2Clients(address: host.address)
            do {
                let api = clients.api
                let deadline = CallOptions(timeout: .seconds(20))
                for (name, read) in Self.reads(api, deadline) {
                    let started = ContinuousClock.now
                    let error = await rpcError { try await read() }
                    let took = started.duration(to: .now)
                    #expect(error.code == .unavailable, "\(name): \(error)")
                    // The feed's failed attempt or the store probe, whichever came first, names the cause.
                    #expect(error.message.contains("the watch cache has not listed the store yet") && error.message.hasSuffix("; retry"), "\(name): \(error.message)")
                    // The cause, also when the probe's timeout came first (it said only that).
                    #expect(error.message.contains("Connection refused"), "\(name): \(error.message)")
                    #expect(took < .seconds(20), "\(name) was answered after \(took)")
                }
                try await member.start()
                try await cluster.waitUntilHealthy()
                let list = try await EtcdOutageTests.firstAnswer(within: .seconds(60)) {
                    try await api.pods.list(Make.list(), options: deadline)
                }
                #expect(list.items.isEmpty)
                try await bounded("the caches to hold the store") { try await host.waitUntilReady() }
                let created = try await api.pods.create(Make.pod("p"))
                #expect(try await api.pods.get(Make.get("p")) == created)
            } catch {
                Issue.record("\(error)\netcd's log:\n\(member.logTail())")
            }
            await clients.close()
            await host.stop()
        }
    }

    /// List, Get and a Watch with initial events, by name, each with `options`.
    static func reads(_ api: APIClients, _ options: CallOptions) -> [(String, @Sendable () async throws -> Void)] {
        [
            ("List", { _ = try await api.pods.list(Make.list(), options: options) }),
            ("Get", { _ = try await api.pods.get(Make.get("p"), options: options) }),
            (
                "Watch",
                {
                    let reader = WatchReader(try await api.pods.watch(Make.watch(initial: true), options: options))
                    defer { reader.cancel() }
                    _ = try await reader.next(seconds: 30)
                }
            ),
        ]
    }

    /// A read during a listing that takes its time (the store answers) waits for it, however
    /// long past `storeUnreachableAfter`; and so does one through failed listing attempts while
    /// the store has not been failing for that long (a blip).
    @Test(.timeLimit(.minutes(3)))
    func readsWaitForAListingInProgressAndThroughABlip() async throws {
        try #require(EtcdCluster.isAvailable, "etcd is not installed: run `make deps` (Debian package etcd-server)")
        // A listing in progress, with failures counting only after a short while.
        try await Self.withFaultyHost(unreachableAfter: .milliseconds(200), { $0.listsHang.store(true, ordering: .relaxed) }) {
            host, api, store in
            let read = Task { try await api.pods.list(Make.list(), options: CallOptions(timeout: .seconds(60))) }
            #expect(await eventually(timeout: .seconds(60)) { store.listCalls.load(ordering: .relaxed) > 0 })
            try await Task.sleep(for: .seconds(1))
            store.listsHang.store(false, ordering: .relaxed)
            let list = try await read.value
            #expect(list.items.isEmpty)
        }
        // Failed attempts, with the store failing for less than the bound (a long one, so that a
        // slow run cannot pass it).
        try await Self.withFaultyHost(unreachableAfter: .seconds(120), { $0.failsLists.store(true, ordering: .relaxed) }) {
            host, api, store in
            let read = Task { try await api.pods.list(Make.list(), options: CallOptions(timeout: .seconds(60))) }
            #expect(await eventually(timeout: .seconds(60)) { store.listFailures.load(ordering: .relaxed) >= 2 })
            store.failsLists.store(false, ordering: .relaxed)
            let list = try await read.value
            #expect(list.items.isEmpty)
        }
        // The same failures, with the bound passed: the read fails with the store's error.
        try await Self.withFaultyHost(unreachableAfter: .zero, { $0.failsLists.store(true, ordering: .relaxed) }) {
            host, api, store in
            let error = await rpcError { _ = try await api.pods.list(Make.list(), options: CallOptions(timeout: .seconds(60))) }
            #expect(error.code == .unavailable && error.message.contains("injected: the store cannot be listed"), "\(error)")
            store.failsLists.store(false, ordering: .relaxed)
            _ = try await EtcdOutageTests.firstAnswer(within: .seconds(60)) { try await api.pods.list(Make.list()) }
        }
    }

    /// A store the host's probe finds failing ends reads waiting for the first listing at that
    /// probe, though the feed's attempt has not failed yet (an etcd that nothing answers for:
    /// its first attempt takes several seconds of the store's own retries); once the probe
    /// passes, reads wait for the listing again and get it.
    @Test(.timeLimit(.minutes(3)))
    func readsEndAtAFailedProbeBeforeTheListing() async throws {
        try #require(EtcdCluster.isAvailable, "etcd is not installed: run `make deps` (Debian package etcd-server)")
        try await Self.withFaultyHost(unreachableAfter: .seconds(120), {
            $0.listsHang.store(true, ordering: .relaxed)
            $0.checksHang.store(true, ordering: .relaxed)
        }) { host, api, store in
            let started = ContinuousClock.now
            let error = await rpcError { _ = try await api.pods.list(Make.list(), options: CallOptions(timeout: .seconds(60))) }
            #expect(error.code == .unavailable, "\(error)")
            #expect(error.message.contains("has not listed the store yet, and the store is failing"), "\(error)")
            #expect(started.duration(to: .now) < .seconds(30), "the read waited for its deadline")
            store.checksHang.store(false, ordering: .relaxed)
            store.listsHang.store(false, ordering: .relaxed)
            let list = try await EtcdOutageTests.firstAnswer(within: .seconds(60)) { try await api.pods.list(Make.list()) }
            #expect(list.items.isEmpty)
        }
    }

    /// Runs `body` against an API server, started without waiting for its caches, on a fresh
    /// one-member etcd behind a `FaultyStore` (with the faults `configure` sets before the host
    /// starts) that `body` gets too.
    static func withFaultyHost(
        unreachableAfter: Duration, _ configure: (FaultyStore) -> Void = { _ in },
        _ body: (APIServerHost, APIClients, FaultyStore) async throws -> Void
    ) async throws {
        try await withEtcdCluster(members: 1) { cluster in
            let member = cluster.members[0]
            let etcd = try EtcdStore(endpoints: [member.clientAddress])
            let store = FaultyStore(etcd, failsWatches: false)
            // Faults in place before the host starts: its feed lists the store at once.
            configure(store)
            let options = testOptions {
                $0.storeUnreachableAfter = unreachableAfter
                // The caches list the store at its head (with history they would replay a young
                // store's every change from revision 0, without a listing).
                $0.historyRevisions = 0
            }
            let host = try await APIServerHost.start(
                store: store, closeStore: { await etcd.close() }, options: options, waitUntilReady: false)
            let clients = try HTTP2Clients(address: host.address)
            do {
                try await body(host, clients.api, store)
            } catch {
                Issue.record("\(error)\netcd's log:\n\(member.logTail())")
            }
            store.listsHang.store(false, ordering: .relaxed)
            store.failsLists.store(false, ordering: .relaxed)
            await clients.close()
            await host.stop()
        }
    }
}
