import CapstanEtcdLauncher
import CapstanStore
import CapstanStoreTorture
import Synchronization
import Testing

/// Writers under load against a 3-member cluster through `EtcdStore` while one member is SIGKILLed
/// mid-load and restarted: every acknowledged write is afterwards present at its revision with its
/// value, read from each member on its own; no value is torn; every key's history chains; all
/// members hold the same history.
@Suite("EtcdStore durability", .serialized)
struct EtcdDurabilityTests {
    static let writers = 16
    static let keys = 200

    @Test(arguments: Victim.allCases)
    func acknowledgedWritesSurviveSIGKILLOfAMember(_ victim: Victim) async throws {
        try await withEtcdCluster(members: 3) { cluster in
            let index = try await victim.index(in: cluster)
            let member = cluster.members[index]
            let load = TortureLoad()
            // The load goes through the member that will be killed first.
            try await withEtcdStore(cluster.endpoints(first: index)) { store in
                let writers = load.start(store, writers: Self.writers, keys: Self.keys)
                do {
                    try await waitUntil("500 acknowledged writes") { load.count >= 500 }
                    await member.kill()
                    let atKill = load.count
                    try await waitUntil("500 writes acknowledged with \(member.name) down") { load.count >= atKill + 500 }
                    try await member.start()
                    try await cluster.waitUntilHealthy()
                    let atRestart = load.count
                    try await waitUntil("300 writes acknowledged after the restart") { load.count >= atRestart + 300 }
                } catch {
                    load.stop()
                    await writers.value
                    throw error
                }
                load.stop()
                await writers.value
            }

            let records = load.records
            var histories: [[WatchEvent]] = []
            for other in cluster.members {
                try await withEtcdStore([other.clientAddress]) { single in
                    histories.append(try await Self.verify(single, acknowledged: records, member: other.name))
                }
            }
            #expect(histories.allSatisfy { $0 == histories[0] }, "members disagree about the history")
        }
    }

    /// Checks the store's history against the acknowledged writes; returns the history.
    static func verify(_ store: EtcdStore, acknowledged: [StoreTorture.Record], member: String) async throws -> [WatchEvent] {
        let head = try await store.currentRevision()
        let events = try await collect(try await store.watch(prefix: StoreTorture.prefix, fromRevision: 0), through: head)
        #expect(events.last?.revision == head, "\(member): history ends at \(events.last?.revision ?? 0), head is \(head)")

        let history = TortureHistory(events, acknowledged: acknowledged, label: member)

        let listing = try await store.list(prefix: StoreTorture.prefix, after: nil, limit: 0, revision: head)
        #expect(listing.items.map(\.key) == history.liveKeys)
        #expect(listing.items.allSatisfy { history.byRevision[$0.modRevision]?.entry == $0 })
        return events
    }
}

/// The torture workload's writers and what they got acknowledged.
final class TortureLoad: Sendable {
    private let acknowledged = Mutex<[StoreTorture.Record]>([])
    private let stopped = Atomic<Bool>(false)

    var count: Int { acknowledged.withLock { $0.count } }
    var records: [StoreTorture.Record] { acknowledged.withLock { $0 } }

    func stop() { stopped.store(true, ordering: .relaxed) }

    /// Starts `writers` writers over `keys` keys; the task ends once `stop()` was called.
    func start(_ store: any Store, writers: Int, keys: Int) -> Task<Void, Never> {
        Task {
            await withTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        var sequence = writer << 40
                        while !self.stopped.load(ordering: .relaxed) {
                            sequence += 1
                            if let record = await StoreTorture.writeOnce(store, keys: keys, sequence: sequence) {
                                self.acknowledged.withLock { $0.append(record) }
                            }
                        }
                    }
                }
            }
        }
    }
}
