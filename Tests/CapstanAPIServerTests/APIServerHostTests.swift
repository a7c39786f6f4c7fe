import CapstanAPI
import CapstanAPIServer
import CapstanAPIServerHost
import CapstanRPC
import CapstanStore
import Foundation
import Testing

/// The API server host over HTTP/2: a graceful shutdown with watches open ends the watches with
/// UNAVAILABLE (clients resume them from their last resource version) instead of holding up the
/// drain, which waits for calls in flight and would wait for a watch forever; a host on a brand
/// new etcd serves reads before anything was written.
@Suite("API server host")
struct APIServerHostTests {
    /// `--store sqlite:~/data` made a directory named `~` in the working directory: the shell
    /// expands `~` only at the start of a word.
    @Test func storeAddressExpandsTheHomeDirectory() throws {
        let home = try #require(ProcessInfo.processInfo.environment["HOME"])
        #expect(try StoreAddress(parsing: "sqlite:~/capdata") == .sqlite(home + "/capdata"))
        #expect(try StoreAddress(parsing: "sqlite:~") == .sqlite(home))
        #expect(try StoreAddress(parsing: "sqlite:~other/x") == .sqlite("~other/x"))
        #expect(try StoreAddress(parsing: "sqlite:/data/~") == .sqlite("/data/~"))
        #expect(try StoreAddress(parsing: "etcd:a:1,b:2") == .etcd(["a:1", "b:2"]))
    }

    @Test("stop() ends open watches with UNAVAILABLE and returns", .timeLimit(.minutes(2)))
    func stopEndsWatches() async throws {
        try await withTemporaryDirectory { directory in
            let host = try await APIServerHost.start(store: .sqlite(directory), options: testOptions())
            let clients = try HTTP2Clients(address: host.address)
            let created = try await clients.api.pods.create(Make.pod("p0"))
            let pods = WatchReader(try await clients.api.pods.watch(Make.watch(initial: true)))
            let minions = WatchReader(try await clients.api.minions.watch(Make.watch()))
            let initial = try await pods.next(2)
            #expect(initial.map(\.type) == [.added, .bookmark])
            await host.stop()
            let (podEvents, podRevision, podEnd) = try await drain(pods)
            let (minionEvents, _, minionEnd) = try await drain(minions)
            #expect(podEvents.isEmpty && minionEvents.isEmpty)
            #expect(podRevision <= created.metadata.resourceVersion)
            for end in [podEnd, minionEnd] {
                let error = try #require(end as? RPCError, "the watch ended with \(String(describing: end))")
                #expect(error.code == .unavailable)
                #expect(error.message.contains("shutting down"), "\(error.message)")
            }
            await clients.close()
        }
    }

    @Test("huge INVALID_ARGUMENT answers (400 bad ports, a 40 KB selector) arrive over HTTP/2, cut, before the deadline", .timeLimit(.minutes(2)))
    func hugeInvalidArgument() async throws {
        try await withTemporaryDirectory { directory in
            let host = try await APIServerHost.start(store: .sqlite(directory), options: testOptions())
            let clients = try HTTP2Clients(address: host.address)
            // Answers that never come end DEADLINE_EXCEEDED.
            let options = CallOptions(timeout: .seconds(10))
            var pod = Make.pod("ports")
            pod.spec.containers[0].ports = (0..<400).map { _ in
                var port = ContainerPort()
                port.containerPort = 70_000
                return port
            }
            let create = await rpcError { _ = try await clients.api.pods.create(pod, options: options) }
            #expect(create.code == .invalidArgument, "\(create)")
            #expect(create.message.hasSuffix(" more bytes)"))
            let violations = try fieldViolations(create)
            #expect(violations.count > 10 && violations.count < 400)
            #expect(violations["spec.containers[0].ports[0].container_port"] != nil)
            #expect(violations["…"]?.hasPrefix("and ") == true)
            var list = ListRequest()
            list.labelSelector = String(repeating: "x", count: 40_000) + "=("
            let listed = await rpcError { _ = try await clients.api.pods.list(list, options: options) }
            #expect(listed.code == .invalidArgument, "\(listed)")
            #expect(try await clients.api.pods.create(Make.pod("p0"), options: options).metadata.name == "p0")
            await clients.close()
            await host.stop()
        }
    }

    @Test("once watches are closed new ones are refused with UNAVAILABLE; other calls go on", .timeLimit(.minutes(2)))
    func closedWatchesRefuseNewOnes() async throws {
        try await withTemporaryDirectory { directory in
            let host = try await APIServerHost.start(store: .sqlite(directory), options: testOptions())
            let clients = try HTTP2Clients(address: host.address)
            _ = try await clients.api.pods.create(Make.pod("p0"))
            host.api.closeWatches()
            let refused = WatchReader(try await clients.api.pods.watch(Make.watch(initial: true)))
            let (events, _, end) = try await drain(refused)
            #expect(events.isEmpty)
            #expect((end as? RPCError)?.code == .unavailable, "\(String(describing: end))")
            #expect(try await clients.api.pods.get(Make.get("p0")).metadata.name == "p0")
            _ = try await clients.api.pods.create(Make.pod("p1"))
            #expect(try await clients.api.pods.list(Make.list()).items.map(\.metadata.name) == ["p0", "p1"])
            await clients.close()
            await host.stop()
        }
    }

    /// Writes of others (other programs, or another Capstan under another key prefix) move the
    /// etcd revision without an event for the registry's watch: a restarted server waiting for
    /// the head it noted would wait until the next registry write.
    @Test("on an etcd that others write to as well, a restarted host is ready and serves reads at once", .timeLimit(.minutes(2)))
    func sharedEtcd() async throws {
        try await BackendFixture.with(.etcd) { fixture in
            let options = testOptions {
                $0.readWaitTimeout = .seconds(5)
                $0.startupTimeout = .seconds(20)
            }
            let first = try await APIServerHost.start(store: fixture.address, options: options)
            let clients = try HTTP2Clients(address: first.address)
            let created = try await clients.api.pods.create(Make.pod("p"))
            await clients.close()
            await first.stop()
            for index in 0..<5 { _ = try await fixture.store.create("/other/k\(index)", value: [1]) }
            let second = try await APIServerHost.start(store: fixture.address, options: options)
            let again = try HTTP2Clients(address: second.address)
            do {
                #expect(try await again.api.pods.get(Make.get("p")) == created)
                #expect(try await again.api.pods.list(Make.list()).items.map(\.metadata.name) == ["p"])
            } catch {
                Issue.record(error)
            }
            await again.close()
            await second.stop()
        }
    }

    @Test("on a brand new etcd the host serves reads before the first write", .timeLimit(.minutes(2)))
    func freshEtcd() async throws {
        try await BackendFixture.with(.etcd) { fixture in
            // Short enough that a read waiting for a revision no event brings fails quickly.
            let options = testOptions { $0.readWaitTimeout = .seconds(5) }
            let host = try await APIServerHost.start(store: fixture.address, options: options)
            let clients = try HTTP2Clients(address: host.address)
            do {
                let list = try await clients.api.pods.list(Make.list())
                #expect(list.items.isEmpty)
                let watch = WatchReader(try await clients.api.minions.watch(Make.watch(initial: true)))
                #expect(try await watch.next()?.type == .bookmark)
                let created = try await clients.api.minions.create(Make.minion("m0"))
                let event = try await watch.next()
                #expect(event?.type == .added && event?.object == created)
                watch.cancel()
            } catch {
                Issue.record(error)
            }
            await clients.close()
            await host.stop()
        }
    }

    @Test("a store that cannot be read at start-up fails the start with the store's own error", .timeLimit(.minutes(2)))
    func unreachableStoreAtStart() async throws {
        // Nothing listens on port 1 of the loopback address: every connection is refused. One
        // try per read, so that failures come within the short start-up timeout.
        let options = testOptions { $0.startupTimeout = .seconds(8) }
        var storeOptions = EtcdStoreOptions()
        storeOptions.readRetries = 0
        let store = try EtcdStore(endpoints: ["127.0.0.1:1"], options: storeOptions)
        do {
            let host = try await APIServerHost.start(store: store, closeStore: { await store.close() }, options: options)
            await host.stop()
            Issue.record("the start succeeded without a store")
        } catch let error as APIServerHostError {
            let text = error.description
            #expect(text.contains("could not read the store within") && text.contains("store unavailable"), "\(text)")
        }
    }

    @Test("a port in use fails the start naming the address", .timeLimit(.minutes(2)))
    func portInUse() async throws {
        try await withTemporaryDirectory { directory in
            let first = try await APIServerHost.start(store: .sqlite(directory + "/a"), options: testOptions())
            do {
                let second = try await APIServerHost.start(store: .sqlite(directory + "/b"), port: first.port, options: testOptions())
                await second.stop()
                Issue.record("a second server listened on port \(first.port)")
            } catch let error as APIServerHostError {
                #expect(error.description.hasPrefix("cannot listen on 127.0.0.1:\(first.port): "), "\(error)")
                #expect(error.description.contains("in use"), "\(error)")
            }
            await first.stop()
        }
    }
}
