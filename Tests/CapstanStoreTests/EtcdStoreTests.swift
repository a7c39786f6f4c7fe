import CapstanEtcdLauncher
import CapstanHTTP2
import CapstanStore
import CapstanTestSupport
import Foundation
import Testing

/// What is particular to `EtcdStore`, against one real etcd member.
@Suite("EtcdStore", .serialized)
struct EtcdStoreTests {
    /// Two stores with different key prefixes share one etcd without seeing each other's keys, even
    /// when one prefix starts with the other.
    @Test func keyPrefixesSeparateClusters() async throws {
        try await withEtcdCluster(members: 1) { cluster in
            var optionsA = EtcdStoreOptions()
            optionsA.keyPrefix = "/capstan-a"
            var optionsB = EtcdStoreOptions()
            optionsB.keyPrefix = "/capstan-ab/"
            try await withEtcdStore(cluster.clientAddresses, options: optionsA) { a in
                try await withEtcdStore(cluster.clientAddresses, options: optionsB) { b in
                    let start = try await a.currentRevision()
                    let watchA = try await a.watch(prefix: "", fromRevision: start)
                    _ = try await a.create("/registry/pods/default/web", value: bytes("a"))
                    _ = try await b.create("/registry/pods/default/web", value: bytes("b"))
                    _ = try await b.create("/registry/pods/default/db", value: bytes("b"))
                    _ = try await a.create("/registry/end", value: [])
                    #expect(try await a.get("/registry/pods/default/web").value == bytes("a"))
                    #expect(try await b.get("/registry/pods/default/web").value == bytes("b"))
                    #expect(try await a.list(prefix: "").items.map(\.key) == ["/registry/end", "/registry/pods/default/web"])
                    #expect(try await b.list(prefix: "/registry/").items.count == 2)
                    let events = try await collect(watchA, until: "/registry/end")
                    #expect(events.map(\.entry.key) == ["/registry/pods/default/web", "/registry/end"])
                    if case .invalid? = await storeError({ _ = try await a.create("registry/x", value: []) }) {} else {
                        Issue.record("a key without a leading / must be invalid under a key prefix")
                    }
                }
            }
        }
    }

    /// A watch on the only member waits through its SIGKILL and restart and resumes where it was.
    @Test func watchResumesAfterTheOnlyMemberRestarts() async throws {
        try await withEtcdCluster(members: 1) { cluster in
            try await withEtcdStore(cluster.clientAddresses) { store in
                let start = try await store.currentRevision()
                let stream = try await store.watch(prefix: "/r/", fromRevision: start)
                let watcher = Task { try await collect(stream, until: "/r/end") }
                for index in 0..<10 { _ = try await store.create("/r/before\(index)", value: []) }
                await cluster.members[0].kill()
                if case .unavailable? = await storeError({ _ = try await store.create("/r/down", value: []) }) {} else {
                    Issue.record("a write with no member up must be unavailable")
                }
                try await cluster.members[0].start()
                try await cluster.waitUntilHealthy()
                // The client may still be backing off from the refused connections (it fails fast
                // meanwhile; there is no wait-for-ready yet): wait until it reaches the member again.
                try await waitUntil("the store to reconnect") { (try? await store.currentRevision()) != nil }
                for index in 0..<10 { _ = try await store.create("/r/after\(index)", value: []) }
                let end = try await store.create("/r/end", value: [])
                let events = try await watcher.value
                #expect(events.map(\.revision) == Array((start + 1)...end))
                #expect(store.statistics.watchResumes >= 1)
            }
        }
    }

    /// Nothing listening: reads give up after their retries, writes at once, watches after their
    /// reconnect bound — all with `unavailable`.
    @Test func unavailableWithoutEtcd() async throws {
        var options = EtcdStoreOptions()
        options.readRetries = 2
        options.watchReconnectTimeout = .seconds(1)
        let endpoint = "127.0.0.1:\(try #require(unusedLoopbackPort()))"
        let store = try EtcdStore(endpoints: [endpoint], options: options)
        if case .unavailable? = await storeError({ _ = try await store.get("/k") }) {} else { Issue.record("get") }
        // A write that never went out says nothing of taking effect later.
        if case .unavailable(let reason)? = await storeError({ _ = try await store.create("/k", value: []) }) {
            #expect(!reason.contains(EtcdStore.mayTakeEffect), "\(reason)")
        } else {
            Issue.record("create")
        }
        let stream = try await store.watch(prefix: "/", fromRevision: 0)
        if case .unavailable? = await storeError({ for try await _ in stream {} }) {} else { Issue.record("watch") }
        await store.close()
        if case .unavailable? = await storeError({ _ = try await EtcdStore.connect(endpoints: [endpoint], options: options) }) {} else {
            Issue.record("connect")
        }
    }

    /// etcd replaced by an older copy of itself (a restored backup) while a watch is open: the
    /// watch resumes against a store behind what it delivered, and ends with `unavailable` saying
    /// so (etcd itself would accept the watch from that future revision and stay silent).
    @Test(.timeLimit(.minutes(3)))
    func watchOfAStoreThatWentBackEnds() async throws {
        try await withEtcdCluster(members: 1) { cluster in
            let member = cluster.members[0]
            try await withEtcdStore(cluster.clientAddresses) { store in
                _ = try await store.create("/g/kept", value: [1])
                await member.stop()
                let backup = member.dataDirectory + "-backup"
                try FileManager.default.copyItem(atPath: member.dataDirectory, toPath: backup)
                try await member.start()
                try await cluster.waitUntilHealthy()
                let from = try await store.currentRevision()
                var events = try await store.watch(prefix: "/g/", fromRevision: from).makeAsyncIterator()
                for index in 0..<3 { _ = try await store.create("/g/lost\(index)", value: [1]) }
                for _ in 0..<3 { _ = try await events.next() }
                // The restore, quicker than the watch's 60 s reconnect bound.
                await member.kill()
                try FileManager.default.removeItem(atPath: member.dataDirectory)
                try FileManager.default.moveItem(atPath: backup, toPath: member.dataDirectory)
                try await member.start()
                try await cluster.waitUntilHealthy()
                let error = await storeError { _ = try await events.next() }
                guard case .unavailable(let reason) = error else {
                    Issue.record("the watch did not end as unavailable: \(String(describing: error))")
                    return
                }
                #expect(reason.contains("older copy"), "\(reason)")
            }
        }
    }

    /// A member that holds requests unanswered (SIGSTOP) makes them fail with `unavailable` after
    /// the request timeout (and the read's retries), not hang.
    @Test func requestsToAFrozenMemberTimeOut() async throws {
        try await withEtcdCluster(members: 1) { cluster in
            var options = EtcdStoreOptions()
            // 2 s: long enough that a busy machine does not time out the requests made before the freeze.
            options.requestTimeout = .seconds(2)
            options.readRetries = 1
            try await withEtcdStore(cluster.clientAddresses, options: options) { store in
                _ = try await store.create("/f/a", value: [])
                cluster.members[0].freeze()
                let read = await storeError { _ = try await store.get("/f/a") }
                let write = await storeError { _ = try await store.create("/f/b", value: []) }
                cluster.members[0].thaw()
                #expect(read == .unavailable(reason: "etcd did not answer within \(Duration.seconds(2))"))
                // The write may have reached etcd: the reason says it may still take effect.
                #expect(
                    write == .unavailable(reason: "etcd did not answer within \(Duration.seconds(2))" + EtcdStore.mayTakeEffect))
                #expect(write?.writeMayHaveTakenEffect == true && read?.writeMayHaveTakenEffect == false)
                #expect(store.statistics.retries == 1)
                // Once it answers again, so does the store.
                try await waitUntil("the thawed member to answer") { (try? await store.get("/f/a")) != nil }
            }
        }
    }

    /// A listing whose answer would pass the client's size limit is read in smaller pages (with a
    /// limit: fewer keys, `more` set; without one: every page at one revision, answered together),
    /// and a single value over the limit is a clear `invalid`, not a retried `unavailable`.
    @Test func answersOverTheSizeLimitAreSplit() async throws {
        try await withEtcdCluster(members: 1) { cluster in
            var options = EtcdStoreOptions()
            options.transport.maxReceiveMessageSize = 16 * 1024
            try await withEtcdStore(cluster.clientAddresses, options: options) { store in
                let value = [UInt8](repeating: 7, count: 1024)
                let keys = (0..<40).map { "/big/k" + String(100 + $0) }
                for key in keys { _ = try await store.create(key, value: value) }
                var listed: [String] = []
                var page = try await store.list(prefix: "/big/", after: nil, limit: 1000, revision: 0)
                let revision = page.revision
                #expect(page.more && page.items.count < 16)
                while true {
                    #expect(page.revision == revision && !page.items.isEmpty)
                    listed += page.items.map(\.key)
                    guard let next = page.continueKey else { break }
                    page = try await store.list(prefix: "/big/", after: next, limit: 1000, revision: revision)
                }
                #expect(listed == keys)
                let whole = try await store.list(prefix: "/big/", after: nil, limit: 0, revision: 0)
                #expect(whole.items.map(\.key) == keys && !whole.more && whole.items.allSatisfy { $0.value == value })

                _ = try await store.create("/huge/a", value: [UInt8](repeating: 1, count: 20 * 1024))
                let retries = store.statistics.retries
                let error = await storeError { _ = try await store.list(prefix: "/huge/", after: nil, limit: 10, revision: 0) }
                guard case .invalid(let reason)? = error else {
                    Issue.record("expected invalid, got \(String(describing: error))")
                    return
                }
                #expect(reason.contains("maxReceiveMessageSize") && reason.contains("larger than the limit of 16384 bytes"))
                #expect(store.statistics.retries == retries)
            }
        }
    }

    /// `close()` ends a watch being read (it returns nil) and refuses later calls.
    @Test func closeEndsWatches() async throws {
        try await withEtcdCluster(members: 1) { cluster in
            let store = try await EtcdStore.connect(endpoints: cluster.clientAddresses)
            let stream = try await store.watch(prefix: "/c/", fromRevision: try await store.currentRevision())
            _ = try await store.create("/c/a", value: [])
            #expect(try await collect(stream, count: 1).map(\.entry.key) == ["/c/a"])
            let reader = Task { () async throws -> Int in
                var count = 0
                for try await _ in stream { count += 1 }
                return count
            }
            await store.close()
            #expect(try await bounded("the watch to end", seconds: 120) { try await reader.value } == 0)
            if case .unavailable? = await storeError({ _ = try await store.get("/c/a") }) {} else { Issue.record("closed") }
        }
    }

    /// A watch from a revision the watcher saw (`watch(prefix:fromReached:)`) on an etcd that is
    /// behind it — as after a restore from an older backup between the watcher's last look and
    /// the watch's set-up — fails with `unavailable` naming both revisions, once etcd answers the
    /// watch's creation; a plain watch from such a revision waits for it (`Store`'s contract).
    @Test func aWatchFromAReachedRevisionFailsOnAStoreBehindIt() async throws {
        try await withEtcdCluster(members: 1) { cluster in
            try await withEtcdStore(cluster.clientAddresses) { store in
                let head = try await store.currentRevision()
                let stream = try await store.watch(prefix: "/x/", fromReached: head + 50)
                let failure = try await bounded("the watch to fail", seconds: 60) { await storeError { for try await _ in stream {} } }
                guard case .unavailable(let reason)? = failure else {
                    Issue.record("expected unavailable, got \(String(describing: failure))")
                    return
                }
                #expect(reason.contains("etcd is at revision \(head), behind the \(head + 50) this watch had reached"), "\(reason)")

                // From the head itself: set up, and it delivers what comes.
                let fine = try await store.watch(prefix: "/x/", fromReached: head)
                let next = try await store.create("/x/a", value: [])
                let first = try await bounded("the event", seconds: 60) { () async throws -> Int64? in
                    for try await event in fine { return event.revision }
                    return nil
                }
                #expect(first == next)
            }
        }
    }

    /// Cancelling the task that reads a watch ends the watch quietly (nil, no error).
    @Test func cancellingTheReaderEndsTheWatch() async throws {
        try await withEtcdCluster(members: 1) { cluster in
            try await withEtcdStore(cluster.clientAddresses) { store in
                let stream = try await store.watch(prefix: "/x/", fromRevision: try await store.currentRevision())
                let reader = Task { () async throws -> Int in
                    var count = 0
                    for try await _ in stream { count += 1 }
                    return count
                }
                reader.cancel()
                #expect(try await bounded("the cancelled watch to end", seconds: 120) { try await reader.value } == 0)
            }
        }
    }

    /// A write whose caller is cancelled is still made and its outcome returned (see `Store`).
    @Test func cancelledCallersDoNotAbandonWrites() async throws {
        try await withEtcdCluster(members: 1) { cluster in
            try await withEtcdStore(cluster.clientAddresses) { store in
                let writes = (0..<20).map { index in
                    Task { try await store.create("/w/\(index)", value: bytes("\(index)")) }
                }
                for write in writes { write.cancel() }
                for (index, write) in writes.enumerated() {
                    let revision = try await write.value
                    #expect(try await store.get("/w/\(index)").modRevision == revision)
                }
            }
        }
    }

    /// A read whose caller is cancelled still answers (see `Store`): a read runs in its caller's task,
    /// and is made again in a task of its own when the caller's cancellation reset its stream.
    @Test func cancelledCallersStillGetReads() async throws {
        try await withEtcdCluster(members: 1) { cluster in
            try await withEtcdStore(cluster.clientAddresses) { store in
                let revision = try await store.create("/r/a", value: bytes("a"))
                // Each caller is cancelled before or while it reads.
                let reads = (0..<20).map { _ in Task { try await store.get("/r/a") } }
                for read in reads { read.cancel() }
                for read in reads {
                    let entry = try await read.value
                    #expect(entry.modRevision == revision && entry.value == bytes("a"))
                }
                // Asking again for a cancelled caller is not a retry.
                #expect(store.statistics.retries == 0)
            }
        }
    }

    /// Listings larger than gRPC's usual 4 MiB message limit arrive whole.
    @Test func largeListings() async throws {
        try await withEtcdCluster(members: 1) { cluster in
            try await withEtcdStore(cluster.clientAddresses) { store in
                let value = [UInt8](repeating: 7, count: 1 << 20)
                for index in 0..<6 { _ = try await store.create("/big/\(index)", value: value) }
                let listing = try await store.list(prefix: "/big/")
                #expect(listing.items.count == 6 && listing.items.allSatisfy { $0.value == value })
                let events = try await collect(try await store.watch(prefix: "/big/", fromRevision: 0), count: 6)
                #expect(events.allSatisfy { $0.entry.value == value })
            }
        }
    }

    /// Documents where etcd differs: when etcd expires a lease it deletes all its keys at one
    /// revision (`revokeLease` deletes them at one revision each). A batch of the watch holds that
    /// revision whole, even past its limit.
    @Test func leaseExpiryDeletesAtOneRevision() async throws {
        try await withEtcdCluster(members: 1) { cluster in
            try await withEtcdStore(cluster.clientAddresses) { store in
                // 5 s: etcd raises 1 s to its 2 s minimum, which a busy machine can spend before
                // both creates are done.
                let lease = try await store.grantLease(ttl: .seconds(5))
                let start = try await store.currentRevision()
                let stream = try await store.watch(prefix: "/e/", fromRevision: start)
                _ = try await store.create("/e/a", value: bytes("a"), lease: lease)
                _ = try await store.create("/e/b", value: bytes("b"), lease: lease)
                var changes = stream.makeAsyncIterator()
                var batches: [[WatchEvent]] = []
                while batches.joined().count < 4, let batch = try await changes.nextBatch(limit: 1) { batches.append(batch) }
                #expect(batches.map(\.count) == [1, 1, 2])
                let events = Array(batches.joined())
                #expect(events.suffix(2).map(\.kind) == [.delete, .delete])
                #expect(events[2].revision == events[3].revision)
                #expect(events.suffix(2).allSatisfy { $0.entry.lease == lease && $0.prevValue != nil })
            }
        }
    }
}
