import CapstanAPI
@testable import CapstanAPIServer
import CapstanRPC
import CapstanStore
import CapstanTestSupport
import Synchronization
import Testing

/// A SQLite store that runs a test's hook (once) around the write of a service, to place
/// another server's move exactly between the steps of a create or an update.
final class ServiceWriteHooks: Store {
    typealias Hook = @Sendable (_ store: SQLiteStore) async -> Void
    let store: SQLiteStore
    let beforeCreate = Mutex<Hook?>(nil)
    let afterCreate = Mutex<Hook?>(nil)
    let beforeUpdate = Mutex<Hook?>(nil)
    let afterUpdate = Mutex<Hook?>(nil)
    /// Reads of port claim keys so far.
    let claimReads = Mutex(0)
    /// Fails the next service update with this error, without writing.
    let failNextServiceUpdate = Mutex<StoreError?>(nil)

    init(_ store: SQLiteStore) {
        self.store = store
    }

    private static func isServiceWrite(_ key: String) -> Bool {
        key.hasPrefix("/registry/services/")
    }

    nonisolated(nonsending) func create(_ key: String, value: [UInt8], lease: Int64, unchanged: [KeyRevision])
        async throws(StoreError) -> Int64
    {
        if Self.isServiceWrite(key), let hook = beforeCreate.withLock({ hook in defer { hook = nil }; return hook }) {
            await hook(store)
        }
        let revision = try await store.create(key, value: value, lease: lease, unchanged: unchanged)
        if Self.isServiceWrite(key), let hook = afterCreate.withLock({ hook in defer { hook = nil }; return hook }) {
            await hook(store)
        }
        return revision
    }
    nonisolated(nonsending) func update(_ key: String, value: [UInt8], expectedRevision: Int64, unchanged: [KeyRevision])
        async throws(StoreError) -> Int64
    {
        if Self.isServiceWrite(key), let hook = beforeUpdate.withLock({ hook in defer { hook = nil }; return hook }) {
            await hook(store)
        }
        if Self.isServiceWrite(key), let failure = failNextServiceUpdate.withLock({ failure in defer { failure = nil }; return failure }) {
            throw failure
        }
        let revision = try await store.update(key, value: value, expectedRevision: expectedRevision, unchanged: unchanged)
        if Self.isServiceWrite(key), let hook = afterUpdate.withLock({ hook in defer { hook = nil }; return hook }) {
            await hook(store)
        }
        return revision
    }
    nonisolated(nonsending) func get(_ key: String) async throws(StoreError) -> KeyValue {
        if key.hasPrefix(ServicePortClaims.key(port: 0, protocol: .tcp).dropLast(5)) { claimReads.withLock { $0 += 1 } }
        return try await store.get(key)
    }
    nonisolated(nonsending) func list(prefix: String, after continueKey: String?, limit: Int, revision: Int64)
        async throws(StoreError) -> ListResult
    {
        try await store.list(prefix: prefix, after: continueKey, limit: limit, revision: revision)
    }
    nonisolated(nonsending) func delete(_ key: String, expectedRevision: Int64) async throws(StoreError) -> KeyValue {
        try await store.delete(key, expectedRevision: expectedRevision)
    }
    func watch(prefix: String, fromRevision: Int64) async throws(StoreError) -> WatchStream {
        try await store.watch(prefix: prefix, fromRevision: fromRevision)
    }
    func watch(prefix: String, fromReached revision: Int64) async throws(StoreError) -> WatchStream {
        try await store.watch(prefix: prefix, fromReached: revision)
    }
    func compact(_ revision: Int64) async throws(StoreError) { try await store.compact(revision) }
    func currentRevision() async throws(StoreError) -> Int64 { try await store.currentRevision() }
    func checkWritable() async throws(StoreError) { try await store.checkWritable() }
    func grantLease(ttl: Duration) async throws(StoreError) -> Int64 { try await store.grantLease(ttl: ttl) }
    func keepAlive(_ lease: Int64) async throws(StoreError) -> Duration { try await store.keepAlive(lease) }
    func revokeLease(_ lease: Int64) async throws(StoreError) { try await store.revokeLease(lease) }
}

@Suite("Service port claims against moves of other servers between a write's steps")
struct ServiceClaimRaceTests {
    /// `withAPIServer` on a store with hooks.
    func withHookedServer(_ body: @escaping @Sendable (APIClients, ServiceWriteHooks) async throws -> Void) async throws {
        let hooks = Mutex<ServiceWriteHooks?>(nil)
        try await withAPIServer(wrapStore: { sqlite in
            let wrapped = ServiceWriteHooks(sqlite)
            hooks.withLock { $0 = wrapped }
            return wrapped
        }) { api, _ in
            try await body(api, try #require(hooks.withLock { $0 }))
        }
    }

    /// Another server's takeover of the claim on port 80/TCP (as after a long stall of this one).
    static let anotherServerTakesPort80: ServiceWriteHooks.Hook = { sqlite in
        await setClaim(sqlite, port: 80, "bound 0 default other uid-other")
    }

    @Test("a claim taken over between claiming and writing: the service is never written, the create is refused")
    func takenOverBeforeTheWrite() async throws {
        try await withHookedServer { api, store in
            // Another server takes the claim over (as after a long stall of this one) just
            // before this one writes the service.
            store.beforeCreate.withLock {
                $0 = Self.anotherServerTakesPort80
            }
            let call = try await api.services.watch(Make.watch())
            // A watch from "now" is in place once its headers came: then no later change escapes it.
            _ = try await call.responseMetadata
            let watch = WatchReader(call)
            let refused = await rpcError { _ = try await api.services.create(Make.service("web", port: 80)) }
            #expect(refused.code == .alreadyExists && refused.message.contains("taken over"), "\(refused)")
            #expect(await rpcError { _ = try await api.services.get(Make.get("web")) }.code == .notFound)
            // The watch's first event is the next service: "web" never existed, not even for a moment.
            _ = try await api.services.create(Make.service("next", port: 81))
            let first = try #require(try await watch.next())
            #expect(first.type == .added && first.object.metadata.name == "next", "\(first.type) \(first.object.metadata.name)")
        }
    }

    @Test("a claim taken over between the write and its confirmation (the taker read the service as absent just before): the create is undone and refused")
    func takenOverAfterTheWrite() async throws {
        try await withHookedServer { api, store in
            store.afterCreate.withLock {
                $0 = Self.anotherServerTakesPort80
            }
            let refused = await rpcError { _ = try await api.services.create(Make.service("web", port: 80)) }
            #expect(refused.code == .alreadyExists && refused.message.contains("taken over"), "\(refused)")
            #expect(await rpcError { _ = try await api.services.get(Make.get("web")) }.code == .notFound)
        }
    }

    @Test("an update that a delete of the same service follows at once stands: OK, and both ports are free afterwards")
    func deletedRightAfterAnUpdate() async throws {
        try await withHookedServer { api, store in
            var web = try await api.services.create(Make.service("web", port: 80))
            // Another client deletes the service right after this update wrote it, before the
            // update confirms its claim on the new port.
            store.afterUpdate.withLock {
                $0 = { _ in
                    _ = try? await api.services.delete(Make.delete("web"))
                }
            }
            web.spec.port = 81
            let updated = try await api.services.update(web)
            #expect(updated.spec.port == 81)
            #expect(await rpcError { _ = try await api.services.get(Make.get("web")) }.code == .notFound)
            _ = try await api.services.create(Make.service("a", port: 80))
            _ = try await api.services.create(Make.service("b", port: 81))
        }
    }

    /// Two updates moving "web" from port 80 to 81 at once, the second (`second`, given the
    /// service as both read it) sent while the first holds the new port's claim and has not
    /// written yet (until the second read the port's claim, or with `holdUntilSecondEnds` until
    /// the second update answered); `thenFail` makes the first update's write fail; returns the
    /// second's outcome.
    static func concurrentMoves(
        _ api: APIClients, _ store: ServiceWriteHooks, holdUntilSecondEnds: Bool = false, thenFail: StoreError? = nil,
        second: @escaping @Sendable (Service) async throws -> Service
    ) async throws -> (first: Result<Service, RPCError>, second: Result<Service, RPCError>) {
        var web = try await api.services.create(Make.service("web", port: 80))
        web.spec.port = 81
        let read = web
        let outcome = Mutex<Task<Result<Service, RPCError>, Never>?>(nil)
        store.beforeUpdate.withLock {
            $0 = { _ in
                let task = Task { () -> Result<Service, RPCError> in
                    do { return .success(try await second(read)) } catch let error as RPCError { return .failure(error) } catch {
                        return .failure(RPCError(code: .unknown, message: "\(error)"))
                    }
                }
                outcome.withLock { $0 = task }
                // The second update reads the service, finds the claim held for it, and waits.
                if holdUntilSecondEnds {
                    _ = await task.value
                } else {
                    let reads = store.claimReads.withLock { $0 }
                    for _ in 0..<1_000 where store.claimReads.withLock({ $0 }) == reads {
                        try? await Task.sleep(for: .milliseconds(10))
                    }
                }
                if let thenFail { store.failNextServiceUpdate.withLock { $0 = thenFail } }
            }
        }
        let first: Result<Service, RPCError>
        do { first = .success(try await api.services.update(web)) } catch let error as RPCError { first = .failure(error) }
        let task = try #require(outcome.withLock { $0 })
        return (first, await task.value)
    }

    @Test("two updates moving a service to one new port: a conditional second one fails ABORTED, as a conflict, not ALREADY_EXISTS naming the service itself")
    func concurrentConditionalMoves() async throws {
        try await withHookedServer { api, store in
            let (first, second) = try await Self.concurrentMoves(api, store) { read in try await api.services.update(read) }
            #expect(try first.get().spec.port == 81)
            guard case .failure(let error) = second else {
                Issue.record("the second update, made with a version the first replaced, succeeded")
                return
            }
            #expect(error.code == .aborted && error.message.contains("was modified"), "\(error)")
            await Self.expectHeld(port: 81, by: "web", api)
            _ = try await api.services.create(Make.service("a", port: 80))
        }
    }

    @Test("two updates moving a service to one new port: an unconditional second one starts from the first's write and stands")
    func concurrentUnconditionalMoves() async throws {
        try await withHookedServer { api, store in
            let (first, second) = try await Self.concurrentMoves(api, store) { read in
                var unconditional = read
                unconditional.metadata.resourceVersion = 0
                unconditional.metadata.labels["second"] = "yes"
                return try await api.services.update(unconditional)
            }
            #expect(try first.get().spec.port == 81)
            let written = try second.get()
            #expect(written.spec.port == 81 && written.metadata.labels["second"] == "yes")
            #expect(written.metadata.resourceVersion > (try first.get()).metadata.resourceVersion)
            await Self.expectHeld(port: 81, by: "web", api)
            _ = try await api.services.create(Make.service("a", port: 80))
        }
    }

    @Test("two updates moving a service to one new port, the first failing: the second finds the claim given up and stands")
    func concurrentMoveWhoseFirstFails() async throws {
        try await withHookedServer { api, store in
            let (first, second) = try await Self.concurrentMoves(api, store, thenFail: .invalid(reason: "a test's failure")) { read in
                var unconditional = read
                unconditional.metadata.resourceVersion = 0
                return try await api.services.update(unconditional)
            }
            guard case .failure(let error) = first else {
                Issue.record("the first update, whose write failed, succeeded")
                return
            }
            #expect(error.code == .invalidArgument, "\(error)")
            #expect(try second.get().spec.port == 81)
            await Self.expectHeld(port: 81, by: "web", api)
            _ = try await api.services.create(Make.service("a", port: 80))
        }
    }

    @Test("an update that finds its new port claimed for the same service by an update that does not write: ABORTED, saying so")
    func concurrentMoveThatStalls() async throws {
        try await withHookedServer { api, store in
            let (first, second) = try await Self.concurrentMoves(api, store, holdUntilSecondEnds: true) { read in
                var unconditional = read
                unconditional.metadata.resourceVersion = 0
                return try await api.services.update(unconditional)
            }
            #expect(try first.get().spec.port == 81)
            guard case .failure(let error) = second else {
                Issue.record("the second update succeeded while the first held the claim")
                return
            }
            #expect(error.code == .aborted && error.message.contains("is being moved to port 81/TCP by another update"), "\(error)")
        }
    }

    /// Sets the claim on `port`/TCP to `record` (another server's move between a write's steps).
    static func setClaim(_ sqlite: SQLiteStore, port: Int32, _ record: String) async {
        let key = ServicePortClaims.key(port: port, protocol: .tcp)
        guard let claim = try? await sqlite.get(key) else { return }
        _ = try? await sqlite.update(key, value: Array(record.utf8), expectedRevision: claim.modRevision)
    }

    /// Expects a create on `port` to be refused because "default/`holder`" holds it.
    static func expectHeld(port: Int32, by holder: String, _ api: APIClients) async {
        let refused = await rpcError { _ = try await api.services.create(Make.service("z", port: port)) }
        #expect(refused.code == .alreadyExists && refused.message.contains("default/\(holder)"), "\(refused)")
    }

    /// A live claim of another server: unconfirmed and just made (within the grace period).
    static var livePendingClaim: String { "pending \(ServerFields.now().seconds) default y uid-y" }

    /// The names of the services on `port`.
    static func names(on port: Int32, _ api: APIClients) async throws -> [String] {
        try await api.services.list(Make.list()).items.filter { $0.spec.port == port }.map(\.metadata.name).sorted()
    }

    @Test("an update whose new port's claim went to a holder that is gone meanwhile, while another service took the old port: the port is claimed again and the update stands")
    func lostNewPortClaimedAgain() async throws {
        try await withHookedServer { api, store in
            var web = try await api.services.create(Make.service("web", port: 80))
            store.afterUpdate.withLock {
                $0 = { sqlite in
                    await Self.setClaim(sqlite, port: 81, "bound 0 default x uid-x")
                    // With "web" on 81 now, another client's create takes port 80 over.
                    _ = try? await api.services.create(Make.service("other", port: 80))
                }
            }
            web.spec.port = 81
            let updated = try await api.services.update(web)
            #expect(updated.spec.port == 81)
            #expect(try await Self.names(on: 80, api) == ["other"])
            #expect(try await Self.names(on: 81, api) == ["web"])
            await Self.expectHeld(port: 81, by: "web", api)
        }
    }

    @Test("an update whose new port's claim was removed by a late release: the port is claimed again and the update stands")
    func lostNewPortReleased() async throws {
        try await withHookedServer { api, store in
            var web = try await api.services.create(Make.service("web", port: 80))
            store.afterUpdate.withLock {
                $0 = { sqlite in
                    let key = ServicePortClaims.key(port: 81, protocol: .tcp)
                    if let claim = try? await sqlite.get(key) { _ = try? await sqlite.delete(key, expectedRevision: claim.modRevision) }
                }
            }
            web.spec.port = 81
            #expect(try await api.services.update(web).spec.port == 81)
            await Self.expectHeld(port: 81, by: "web", api)
            // Port 80 was given up.
            _ = try await api.services.create(Make.service("a", port: 80))
        }
    }

    @Test("an update whose new port was taken over by a live claim: the service goes back to its old port, which it still holds; the update is refused")
    func lostNewPortGoesBack() async throws {
        try await withHookedServer { api, store in
            var web = try await api.services.create(Make.service("web", port: 80))
            store.afterUpdate.withLock {
                $0 = { sqlite in await Self.setClaim(sqlite, port: 81, Self.livePendingClaim) }
            }
            // The update changes the selector too, and its container port follows the new port.
            web.spec.port = 81
            web.spec.containerPort = 0
            web.spec.selector = ["app": "changed"]
            let refused = await rpcError { _ = try await api.services.update(web) }
            #expect(refused.code == .alreadyExists && refused.message.contains("taken over"), "\(refused)")
            // None of the refused update stays.
            let stored = try await api.services.get(Make.get("web"))
            #expect(stored.spec.port == 80 && stored.spec.containerPort == 80 && stored.spec.selector == ["app": "web"], "\(stored.spec)")
            await Self.expectHeld(port: 80, by: "web", api)
        }
    }

    @Test("an update whose new port was taken over while another service took its old one: the service can keep neither and is deleted, never sharing a port")
    func lostBothPorts() async throws {
        try await withHookedServer { api, store in
            var web = try await api.services.create(Make.service("web", port: 80))
            store.afterUpdate.withLock {
                $0 = { sqlite in
                    await Self.setClaim(sqlite, port: 81, Self.livePendingClaim)
                    _ = try? await api.services.create(Make.service("other", port: 80))
                }
            }
            web.spec.port = 81
            let refused = await rpcError { _ = try await api.services.update(web) }
            #expect(refused.code == .alreadyExists && refused.message.contains("was deleted"), "\(refused)")
            #expect(await rpcError { _ = try await api.services.get(Make.get("web")) }.code == .notFound)
            #expect(try await Self.names(on: 80, api) == ["other"])
            #expect(try await Self.names(on: 81, api) == [])
        }
    }

    @Test("an update whose new port was taken over while another client relabelled the service: the service still goes back to its old port, with the new labels; the update is refused")
    func lostNewPortWhileRelabelled() async throws {
        try await withHookedServer { api, store in
            var web = try await api.services.create(Make.service("web", port: 80))
            store.afterUpdate.withLock {
                $0 = { sqlite in
                    await Self.setClaim(sqlite, port: 81, Self.livePendingClaim)
                    // A label edit (no port change, so no claim is checked) on the service as it
                    // now stands, on 81.
                    var relabelled = Make.service("web", port: 81)
                    relabelled.metadata.labels = ["tier": "front"]
                    _ = try? await api.services.update(relabelled)
                }
            }
            web.spec.port = 81
            let refused = await rpcError { _ = try await api.services.update(web) }
            #expect(refused.code == .alreadyExists && refused.message.contains("taken over"), "\(refused)")
            let stored = try await api.services.get(Make.get("web"))
            #expect(stored.spec.port == 80 && stored.metadata.labels == ["tier": "front"], "\(stored.spec.port) \(stored.metadata.labels)")
            #expect(try await Self.names(on: 81, api) == [])
        }
    }
}
