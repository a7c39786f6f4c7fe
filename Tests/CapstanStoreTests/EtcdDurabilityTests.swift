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

        var byRevision: [Int64: WatchEvent] = [:]
        var latest: [String: WatchEvent] = [:]
        var torn = 0
        var broken = 0
        for event in events {
            byRevision[event.revision] = event
            let key = event.entry.key
            let value = event.kind == .put ? event.entry.value : event.prevValue ?? []
            if !StoreTorture.isComplete(value, key: key) { torn += 1 }
            let previous = latest[key]
            if event.isCreate {
                if let previous, previous.kind != .delete { broken += 1 }
            } else if previous?.kind != .put || previous?.entry.createRevision != event.entry.createRevision {
                broken += 1
            }
            latest[key] = event
        }
        #expect(torn == 0, "\(member): values that are not complete writes")
        #expect(broken == 0, "\(member): writes that do not chain")

        var missing: [StoreTorture.Record] = []
        for record in acknowledged {
            guard let event = byRevision[record.revision], event.entry.key == record.key else {
                missing.append(record)
                continue
            }
            switch record.kind {
            case .put where event.kind != .put || StoreTorture.hash(event.entry.value) != record.hash: missing.append(record)
            case .delete where event.kind != .delete: missing.append(record)
            default: break
            }
        }
        #expect(missing.isEmpty, "\(member): \(missing.count) of \(acknowledged.count) acknowledged writes lost, e.g. \(missing.prefix(3))")

        let listing = try await store.list(prefix: StoreTorture.prefix, after: nil, limit: 0, revision: head)
        #expect(listing.items.map(\.key) == latest.values.filter { $0.kind == .put }.map(\.entry.key).sorted())
        #expect(listing.items.allSatisfy { byRevision[$0.modRevision]?.entry == $0 })
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
