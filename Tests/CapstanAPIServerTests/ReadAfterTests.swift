import CapstanAPI
import CapstanAPIServer
import CapstanAPIServerHost
import CapstanRPC
import CapstanStore
import CapstanWire
import Testing

/// `ReadAfter`: a read that names a revision is answered only once the watch cache applied it.
/// The writes here go to the store directly, past the API server, as another API server's would:
/// this server's own acknowledged writes do not make its reads wait for them.
@Suite("Read after a revision")
struct ReadAfterTests {
    /// Call options carrying `ReadAfter` with `value`.
    func after(_ value: String) -> CallOptions {
        var metadata = Metadata()
        try! metadata.add(ReadAfter.key, value)
        return CallOptions(metadata: metadata)
    }

    /// Stores `pod` in the default namespace straight in the store; returns its revision.
    func writeBehindTheServer(_ store: any Store, _ name: String) async throws -> Int64 {
        var pod = Make.pod(name)
        pod.metadata.namespace = "default"
        pod.metadata.uid = "uid-\(name)"
        return try await store.create("/registry/pods/default/\(name)", value: pod.serializedBytes())
    }

    @Test("Get, List and Watch with a revision written elsewhere see that write")
    func seesTheWrite() async throws {
        try await withAPIServer { api, store in
            for round in 0..<20 {
                let revision = try await writeBehindTheServer(store, "p\(round)")
                let options = after(String(revision))
                let got = try await api.rpc.unary(Pods.Method.get, Make.get("p\(round)"), options: options)
                #expect(got.metadata.resourceVersion == UInt64(revision), "round \(round)")
            }
            let revision = try await writeBehindTheServer(store, "listed")
            let list = try await api.rpc.unary(Pods.Method.list, Make.list(), options: after(String(revision)))
            #expect(list.resourceVersion >= UInt64(revision))
            #expect(list.items.contains { $0.metadata.name == "listed" })

            let watched = try await writeBehindTheServer(store, "watched")
            let call = try await api.rpc.serverStreaming(
                Pods.Method.watch, Make.watch(initial: true), options: after(String(watched)))
            let reader = WatchReader(call)
            var names: [String] = []
            while let event = try await reader.next(), event.type != .bookmark {
                names.append(event.object.metadata.name)
            }
            reader.cancel()
            #expect(names.contains("watched"))
        }
    }

    @Test(
        "two API servers on one etcd: a read through one after a write through the other sees it",
        .timeLimit(.minutes(3)))
    func acrossServers() async throws {
        try await BackendFixture.with(.etcd) { fixture in
            let first = try await fixture.startHost(options: testOptions())
            let second = try await fixture.startHost(options: testOptions())
            let writer = try HTTP2Clients(address: first.address)
            let reader = try HTTP2Clients(address: second.address)
            do {
                for round in 0..<40 {
                    let created = try await writer.api.pods.create(Make.pod("p\(round)"))
                    let revision = created.metadata.resourceVersion
                    let got = try await reader.api.rpc.unary(
                        Pods.Method.get, Make.get("p\(round)"), options: after(String(revision)))
                    #expect(got == created, "round \(round)")
                    let list = try await reader.api.rpc.unary(
                        Pods.Method.list, Make.list(), options: after(String(revision)))
                    #expect(list.items.count == round + 1, "round \(round)")
                }
            } catch {
                Issue.record(error)
            }
            await writer.close()
            await reader.close()
            await first.stop()
            await second.stop()
        }
    }

    @Test(
        "on a shared etcd, a revision of another program's write (no registry event) is reached through a fence write, not waited out",
        .timeLimit(.minutes(2)))
    func revisionOfAForeignWrite() async throws {
        try await BackendFixture.with(.etcd) { fixture in
            // Longer than any wait the fence needs, far shorter than the test's bound.
            let host = try await fixture.startHost(options: testOptions { $0.readWaitTimeout = .seconds(8) })
            let client = try HTTP2Clients(address: host.address)
            do {
                let created = try await client.api.pods.create(Make.pod("p"))
                // Another program writes outside the registry: the revision moves, no registry event comes.
                let foreign = try await fixture.store.create("/other/x", value: [1])
                #expect(foreign > Int64(created.metadata.resourceVersion))
                let got = try await client.api.rpc.unary(Pods.Method.get, Make.get("p"), options: after(String(foreign)))
                #expect(got == created)
                let list = try await client.api.rpc.unary(Pods.Method.list, Make.list(), options: after(String(foreign)))
                #expect(list.resourceVersion > UInt64(foreign))
            } catch {
                Issue.record(error)
            }
            await client.close()
            await host.stop()
        }
    }

    @Test("a revision past the store's is OUT_OF_RANGE with the store's revision in a trailer")
    func pastTheStore() async throws {
        try await withAPIServer { api, store in
            _ = try await api.pods.create(Make.pod("p"))
            let current = try await store.currentRevision()
            let requested = current + 1000
            let error = await rpcError {
                _ = try await api.rpc.unary(Pods.Method.get, Make.get("p"), options: after(String(requested)))
            }
            #expect(error.code == .outOfRange)
            #expect(error.message.contains("revision \(requested) is newer than the store's revision \(current)"))
            #expect(error.trailers.first(ReadAfter.rejectedKey) == String(current))
            let list = await rpcError {
                _ = try await api.rpc.unary(Pods.Method.list, Make.list(), options: after(String(requested)))
            }
            #expect(list.code == .outOfRange)
        }
    }

    @Test(
        "a value that is not a revision is INVALID_ARGUMENT", arguments: ["", "x", "-1", "1.5", "99999999999999999999"])
    func malformed(value: String) async throws {
        try await withAPIServer { api, _ in
            let error = await rpcError {
                _ = try await api.rpc.unary(Pods.Method.get, Make.get("p"), options: after(value))
            }
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains(ReadAfter.key))
        }
    }

    @Test("a revision the cache already applied costs no wait: the answer is the cached object")
    func alreadyApplied() async throws {
        try await withAPIServer { api, _ in
            let created = try await api.pods.create(Make.pod("p"))
            let got = try await api.rpc.unary(
                Pods.Method.get, Make.get("p"), options: after(String(created.metadata.resourceVersion)))
            #expect(got == created)
        }
    }
}
