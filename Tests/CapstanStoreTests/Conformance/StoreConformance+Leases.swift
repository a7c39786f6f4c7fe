import CapstanStore
import Testing

extension StoreConformance {
    /// Revoking a lease deletes its keys, each delete its own revision and watch event.
    static func leaseRevoke(_ store: any Store) async throws {
        let lease = try await store.grantLease(ttl: .seconds(60))
        #expect(lease > 0)
        let stream = try await store.watch(prefix: "/l/", fromRevision: try await store.currentRevision())
        let a = try await store.create("/l/a", value: bytes("a"), lease: lease)
        let b = try await store.create("/l/b", value: bytes("b"), lease: lease)
        _ = try await store.create("/l/free", value: bytes("free"))
        #expect(try await store.get("/l/a").lease == lease)
        _ = try await store.update("/l/a", value: bytes("a2"), expectedRevision: a)
        #expect(try await store.get("/l/a").lease == lease, "an update keeps the key's lease")
        #expect(try await store.keepAlive(lease) == .seconds(60))

        try await store.revokeLease(lease)

        let events = try await collect(stream, count: 6)
        let deletes = Array(events.suffix(2))
        #expect(deletes.map(\.kind) == [.delete, .delete])
        #expect(Set(deletes.map(\.entry.key)) == ["/l/a", "/l/b"])
        #expect(deletes[1].revision == deletes[0].revision + 1)
        #expect(Set(deletes.compactMap(\.prevValue)) == [bytes("a2"), bytes("b")])
        #expect(await storeError { _ = try await store.get("/l/b") } == .notFound(key: "/l/b"))
        #expect(try await store.get("/l/free").value == bytes("free"))
        #expect(try await store.list(prefix: "/l/").items.map(\.key) == ["/l/free"])
        if case .notFound? = await storeError({ _ = try await store.keepAlive(lease) }) {} else {
            Issue.record("a revoked lease must be gone")
        }
        if case .notFound? = await storeError({ _ = try await store.create("/l/c", value: [], lease: lease) }) {} else {
            Issue.record("creating a key on a revoked lease must fail")
        }
        _ = b
    }

    /// A lease that is not kept alive expires and deletes its keys (watch delivers the deletes);
    /// one kept alive meanwhile stays.
    static func leaseExpiry(_ store: any Store) async throws {
        let kept = try await store.grantLease(ttl: .seconds(30))
        let start = try await store.currentRevision()
        let stream = try await store.watch(prefix: "/e/", fromRevision: start)
        // On a very busy machine even a 3 s lease can expire before the create that uses it (seen
        // once); then the create fails (no event) and it is tried again with a new lease.
        var created = false
        for _ in 0..<5 where !created {
            let short = try await store.grantLease(ttl: .seconds(3))
            let error = await storeError { _ = try await store.create("/e/short", value: bytes("s"), lease: short) }
            #expect(error == nil || error == .notFound(key: "lease/\(short)"), "\(String(describing: error))")
            created = error == nil
        }
        try #require(created)
        _ = try await store.create("/e/kept", value: bytes("k"), lease: kept)
        let events = try await collect(stream, count: 3, seconds: 120)
        #expect(events.count == 3)
        // The short lease may expire before the second create on a busy machine: the delete
        // follows its own key's put, not necessarily the other one's.
        let puts = events.filter { $0.kind == .put }.map(\.entry.key)
        #expect(Set(puts) == ["/e/short", "/e/kept"])
        let deletes = events.filter { $0.kind == .delete }
        #expect(deletes.count == 1 && deletes.first?.entry.key == "/e/short", "\(events)")
        #expect(deletes.first?.prevValue == bytes("s"))
        if let put = events.firstIndex(where: { $0.kind == .put && $0.entry.key == "/e/short" }),
            let delete = events.firstIndex(where: { $0.kind == .delete }) {
            #expect(put < delete)
        }
        #expect(try await store.get("/e/kept").value == bytes("k"))
        _ = try await store.keepAlive(kept)
        try await store.revokeLease(kept)
    }
}
