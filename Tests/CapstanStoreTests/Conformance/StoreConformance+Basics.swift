import CapstanStore
import CapstanTestSupport
import Testing

extension StoreConformance {
    /// Every write takes the next revision; get, update, delete and re-create report revisions as etcd does.
    static func revisionsAndOrdering(_ store: any Store) async throws {
        let start = try await store.currentRevision()
        let a = try await store.create("/o/a", value: bytes("1"))
        let b = try await store.create("/o/b", value: bytes("2"))
        #expect(a == start + 1 && b == a + 1)
        #expect(try await store.currentRevision() == b)

        let got = try await store.get("/o/a")
        #expect(got == KeyValue(key: "/o/a", value: bytes("1"), createRevision: a, modRevision: a))

        let updated = try await store.update("/o/a", value: bytes("1b"), expectedRevision: a)
        #expect(updated == b + 1)
        let afterUpdate = try await store.get("/o/a")
        #expect(afterUpdate.createRevision == a && afterUpdate.modRevision == updated && afterUpdate.value == bytes("1b"))

        let deleted = try await store.delete("/o/a", expectedRevision: 0)
        #expect(deleted == KeyValue(key: "/o/a", value: bytes("1b"), createRevision: a, modRevision: updated + 1))
        #expect(await storeError { _ = try await store.get("/o/a") } == .notFound(key: "/o/a"))

        let recreated = try await store.create("/o/a", value: bytes("again"))
        #expect(recreated == updated + 2)
        #expect(try await store.get("/o/a").createRevision == recreated)

        let listing = try await store.list(prefix: "/o/")
        #expect(listing.items.map(\.key) == ["/o/a", "/o/b"])
        #expect(listing.revision == recreated && !listing.more)
        // Keys sort byte-wise, and a prefix does not match its longer siblings.
        _ = try await store.create("/o/a/child", value: [])
        _ = try await store.create("/oa", value: [])
        #expect(try await store.list(prefix: "/o/").items.map(\.key) == ["/o/a", "/o/a/child", "/o/b"])
        #expect(try await store.list(prefix: "").items.count == 4)
        // Empty values are values.
        #expect(try await store.get("/oa").value == [])
    }

    /// Failed checks carry what the caller needs and change nothing.
    static func compareAndSwap(_ store: any Store) async throws {
        let created = try await store.create("/cas/k", value: bytes("v1"))
        #expect(await storeError { _ = try await store.create("/cas/k", value: bytes("x")) } == .alreadyExists(key: "/cas/k"))
        let second = try await store.update("/cas/k", value: bytes("v2"), expectedRevision: created)
        #expect(
            await storeError { _ = try await store.update("/cas/k", value: bytes("stale"), expectedRevision: created) }
                == .conflict(key: "/cas/k", currentRevision: second))
        #expect(
            await storeError { _ = try await store.delete("/cas/k", expectedRevision: created) }
                == .conflict(key: "/cas/k", currentRevision: second))
        #expect(await storeError { _ = try await store.update("/cas/missing", value: [], expectedRevision: 0) } == .notFound(key: "/cas/missing"))
        #expect(await storeError { _ = try await store.delete("/cas/missing", expectedRevision: 0) } == .notFound(key: "/cas/missing"))
        #expect(try await store.currentRevision() == second)
        #expect(try await store.get("/cas/k").value == bytes("v2"))
        let unconditional = try await store.update("/cas/k", value: bytes("v3"), expectedRevision: 0)
        #expect(unconditional == second + 1)
        let deleted = try await store.delete("/cas/k", expectedRevision: unconditional)
        #expect(deleted.modRevision == unconditional + 1 && deleted.value == bytes("v3"))
    }

    /// 16 writers increment 4 counters with read-modify-CAS; no increment is lost.
    static func concurrentCounters(_ store: any Store) async throws {
        let counters = 4
        let writers = 16
        let incrementsPerWriter = 25
        let start = try await store.currentRevision()
        for counter in 0..<counters { _ = try await store.create("/counter/\(counter)", value: bytes("0")) }
        let conflicts = try await bounded("concurrent counters", seconds: 120) {
            try await withThrowingTaskGroup(of: Int.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        var conflicts = 0
                        for increment in 0..<incrementsPerWriter {
                            let key = "/counter/\((writer + increment) % counters)"
                            var done = false
                            for _ in 0..<10_000 where !done {
                                let current = try await store.get(key)
                                let next = Int(String(decoding: current.value, as: UTF8.self))! + 1
                                let failure = await storeError {
                                    _ = try await store.update(key, value: bytes("\(next)"), expectedRevision: current.modRevision)
                                }
                                switch failure {
                                case nil: done = true
                                case .conflict(_, let currentRevision)?:
                                    #expect(currentRevision > current.modRevision)
                                    conflicts += 1
                                case let other?: throw other
                                }
                            }
                            #expect(done)
                        }
                        return conflicts
                    }
                }
                return try await group.reduce(0, +)
            }
        }
        var total = 0
        for counter in 0..<counters {
            total += Int(String(decoding: try await store.get("/counter/\(counter)").value, as: UTF8.self))!
        }
        #expect(total == writers * incrementsPerWriter)
        // Every successful increment is one revision.
        #expect(try await store.currentRevision() == start + Int64(counters + writers * incrementsPerWriter))
        _ = conflicts
    }

    /// A listing at an older revision shows that revision's state: old values, deleted keys, not later keys.
    static func listAtRevision(_ store: any Store) async throws {
        var model = StoreModel()
        for index in 0..<10 {
            let key = "/r/k\(index)"
            model.put(key, bytes("v\(index)"), revision: try await store.create(key, value: bytes("v\(index)")))
        }
        let middle = try await store.currentRevision()
        for index in stride(from: 0, to: 10, by: 3) {
            let key = "/r/k\(index)"
            model.put(key, bytes("u\(index)"), revision: try await store.update(key, value: bytes("u\(index)"), expectedRevision: 0))
        }
        for index in [1, 4] {
            model.delete("/r/k\(index)", revision: try await store.delete("/r/k\(index)", expectedRevision: 0).modRevision)
        }
        model.put("/r/new", bytes("n"), revision: try await store.create("/r/new", value: bytes("n")))
        let head = try await store.currentRevision()
        for revision in [middle, middle + 2, head - 1, head] {
            let listing = try await store.list(prefix: "/r/", after: nil, limit: 0, revision: revision)
            #expect(listing.revision == revision)
            #expect(listing.items == model.state(at: revision, prefix: "/r/"), "at revision \(revision)")
        }
        #expect(await storeError { _ = try await store.list(prefix: "/r/", after: nil, limit: 0, revision: head + 100) } != nil)
    }

    /// Pages read at the first page's revision: writes after it (new keys, deletes, updates) do not show.
    static func listPagingIsConsistent(_ store: any Store) async throws {
        for index in 0..<50 { _ = try await store.create("/p/\(pad(index))", value: bytes("\(index)")) }
        var page = try await store.list(prefix: "/p/", after: nil, limit: 7)
        let revision = page.revision
        var keys = page.items.map(\.key)
        var pages = 1
        while page.more, pages < 100 {
            // Interleave writes that a consistent snapshot must not see.
            let index = pages * 7 + 3
            _ = try await store.create("/p/\(pad(index))x", value: [])
            if index + 1 < 50 {
                _ = try await store.update("/p/\(pad(index))", value: bytes("changed"), expectedRevision: 0)
                _ = try await store.delete("/p/\(pad(index + 1))", expectedRevision: 0)
            }
            page = try await store.list(prefix: "/p/", after: page.continueKey, limit: 7, revision: revision)
            #expect(page.revision == revision)
            #expect(page.items.allSatisfy { $0.value != bytes("changed") && $0.modRevision <= revision })
            keys += page.items.map(\.key)
            pages += 1
        }
        #expect(keys == (0..<50).map { "/p/\(pad($0))" })
        // The largest limit is as good as none.
        let whole = try await store.list(prefix: "/p/", after: nil, limit: .max, revision: revision)
        #expect(whole.items.map(\.key) == keys && !whole.more)
    }

    /// Empty keys, negative revisions and unknown leases are refused without writing.
    static func invalidRequests(_ store: any Store) async throws {
        let start = try await store.currentRevision()
        if case .invalid? = await storeError({ _ = try await store.create("", value: []) }) {} else {
            Issue.record("an empty key must be invalid")
        }
        if case .notFound? = await storeError({ _ = try await store.create("/i/k", value: [], lease: 424_242) }) {} else {
            Issue.record("an unknown lease must be notFound")
        }
        if case .notFound? = await storeError({ _ = try await store.keepAlive(424_242) }) {} else {
            Issue.record("keep-alive of an unknown lease must be notFound")
        }
        if case .notFound? = await storeError({ try await store.revokeLease(424_242) }) {} else {
            Issue.record("revoking an unknown lease must be notFound")
        }
        #expect(try await store.currentRevision() == start)
    }
}

func pad(_ number: Int) -> String {
    let text = String(number)
    return String(repeating: "0", count: max(0, 6 - text.count)) + text
}
