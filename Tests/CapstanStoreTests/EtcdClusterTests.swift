import CapstanEtcdLauncher
import CapstanStore
import CapstanTestSupport
import Testing

/// A 3-member etcd cluster keeps serving through `EtcdStore` while one member is SIGKILLed and
/// restarted: reads, CAS writes, lease keep-alives, and a watch that continues without losing or
/// repeating an event. The store's connections go to the killed member first, so every stream it
/// has breaks and must move to another member.
@Suite("EtcdStore on a 3-member cluster", .serialized)
struct EtcdClusterTests {
    /// How the member goes down: SIGKILL, or SIGTERM (etcd sends GOAWAY and drains first).
    enum Outage: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case killed
        case stopped

        var testDescription: String { rawValue }
    }

    /// A member that stops answering while its connection stays up (SIGSTOP: no bytes and no
    /// error arrive) does not hold the store's watch: the keepalive closes the silent connection,
    /// and the watch resumes on another member from the revision it reached.
    @Test func aWatchLeavesAFrozenMember() async throws {
        try await withEtcdCluster(members: 3) { cluster in
            let index = try await Victim.follower.index(in: cluster)
            let member = cluster.members[index]
            let others = cluster.members.indices.filter { $0 != index }.map { cluster.members[$0].clientAddress }
            try await withEtcdStore(cluster.endpoints(first: index)) { store in
                let start = try await store.currentRevision()
                let watch = try await store.watch(prefix: "/f/", fromRevision: start)
                let watcher = Task { try await collect(watch, until: "/f/end", seconds: 120) }
                _ = try await store.create("/f/before", value: [])
                member.freeze()
                defer { member.thaw() }
                let end = try await withEtcdStore(others) { writer in
                    _ = try await CertainWrites.create(writer, "/f/during", [])
                    return try await CertainWrites.create(writer, "/f/end", [])
                }
                let events = try await bounded("the watch to leave the frozen member", seconds: 60) {
                    try await watcher.value
                }
                #expect(events.map(\.revision) == Array((start + 1)...end))
                #expect(events.map(\.entry.key) == ["/f/before", "/f/during", "/f/end"])
            }
        }
    }

    @Test(arguments: Victim.allCases, Outage.allCases)
    func keepsServingWhileAMemberIsDown(_ victim: Victim, _ outage: Outage) async throws {
        try await withEtcdCluster(members: 3) { cluster in
            let index = try await victim.index(in: cluster)
            let member = cluster.members[index]
            try await withEtcdStore(cluster.endpoints(first: index)) { store in
                let start = try await store.currentRevision()
                let lease = try await store.grantLease(ttl: .seconds(30))
                var acknowledged: [Int64: String] = [:]
                acknowledged[try await store.create("/c/leased", value: bytes("leased"), lease: lease)] = "/c/leased"
                _ = try await CertainWrites.create(store, "/c/counter", bytes("0@start")).recording("/c/counter", in: &acknowledged)
                let watch = try await store.watch(prefix: "/c/", fromRevision: start)
                let watcher = Task { try await collect(watch, until: "/c/end", seconds: 300) }

                try await write(store, batch: "before", into: &acknowledged)
                #expect(try await store.keepAlive(lease) == .seconds(30))
                switch outage {
                case .killed: await member.kill()
                case .stopped: await member.stop()
                }
                // While it is down: writes (each key once), CAS increments, reads, a keep-alive.
                try await write(store, batch: "down", into: &acknowledged)
                for step in 0..<20 {
                    acknowledged[try await CertainWrites.increment(store, "/c/counter", tag: "down\(step)")] = "/c/counter"
                }
                #expect(try await store.list(prefix: "/c/before/").items.count == 40)
                #expect(try await store.get("/c/counter").value.starts(with: bytes("20@")))
                #expect(try await store.keepAlive(lease) == .seconds(30))

                try await member.start()
                try await cluster.waitUntilHealthy()
                try await write(store, batch: "after", into: &acknowledged)
                for step in 0..<10 {
                    acknowledged[try await CertainWrites.increment(store, "/c/counter", tag: "after\(step)")] = "/c/counter"
                }
                let end = try await CertainWrites.create(store, "/c/end", [])
                acknowledged[end] = "/c/end"

                // The watch saw every revision once, in order (everything written is under /c/),
                // including every acknowledged write, exactly as a replay from history shows it.
                let events = try await watcher.value
                #expect(events.map(\.revision) == Array((start + 1)...end))
                #expect(acknowledged.allSatisfy { revision, key in events.contains { $0.revision == revision && $0.entry.key == key } })
                let replay = try await collect(try await store.watch(prefix: "/c/", fromRevision: start), through: end)
                #expect(events == replay)
                #expect(try await store.get("/c/counter").value.starts(with: bytes("30@")))
                #expect(try await store.get("/c/leased").lease == lease)
                // The kill broke the watch's and the keep-alive's streams; both moved to another member.
                #expect(store.statistics.watchResumes >= 1)
                #expect(store.statistics.keepAliveStreams >= 2)

                // Every member, the restarted one included, serves the same state.
                let expected = try await store.list(prefix: "/c/", after: nil, limit: 0, revision: end)
                #expect(expected.items.count == 40 * 3 + 3)
                for other in cluster.members {
                    try await withEtcdStore([other.clientAddress]) { single in
                        let listing = try await single.list(prefix: "/c/", after: nil, limit: 0, revision: end)
                        #expect(listing.items == expected.items, "member \(other.name)")
                    }
                }
                try await store.revokeLease(lease)
            }
        }
    }

    /// Creates 40 keys under `/c/<batch>/`, resolving unknown outcomes.
    private func write(_ store: EtcdStore, batch: String, into acknowledged: inout [Int64: String]) async throws {
        for index in 0..<40 {
            let key = "/c/\(batch)/\(pad(index))"
            acknowledged[try await CertainWrites.create(store, key, bytes("\(batch)-\(index)"))] = key
        }
    }
}

extension Int64 {
    fileprivate func recording(_ key: String, in acknowledged: inout [Int64: String]) -> Int64 {
        acknowledged[self] = key
        return self
    }
}
