// The etcd part of bench-store: a one-member etcd (CapstanEtcdLauncher) in a temporary directory,
// with its default durability (fsync on every raft batch). Each case runs the same load twice
// through `EtcdStore` and twice as raw etcd calls through the generated client on a transport
// configured the same way, alternating, and keeps the better run of each, since the machine is shared.
// The like-for-like anchor for EtcdStore's writes is the raw Txn carrying the same guard (what the
// store sends); raw Put is shown beside it to separate etcd's own cost of the guard. SQLite's creates
// run in the same rounds as raw Put with 16 and 64 writers, for the SQLite ÷ etcd ratio.
import CapstanAPI
import CapstanBenchSupport
import CapstanEtcdLauncher
import CapstanHTTP2
import CapstanRPC
import CapstanStore
import Foundation
import Synchronization

func benchEtcd() async throws {
    guard EtcdCluster.isAvailable else {
        print("etcd: skipped (no /usr/bin/etcd; apt-get install -y etcd-server)")
        return
    }
    print("\netcd 1 member (\(try await etcdVersion())), fsync on, data in a temporary directory; EtcdStore vs raw etcd calls, 16 concurrent each")
    print("(64 in the second SQLite ÷ Put case), best of \(rounds) rounds in which the cases alternate")
    try await withEtcdCluster(members: 1) { cluster in
        let store = try await EtcdStore.connect(endpoints: cluster.clientAddresses)
        let group = try EventLoopGroup(threads: store.options.eventLoopThreads)
        let transport = try HTTP2ClientTransport(
            targets: cluster.clientAddresses, configuration: store.options.transport, group: group)
        let kv = Etcdserverpb_KV.Client(RPCClient(transport: transport))
        do {
            try await withStore { sqlite in try await runEtcdCases(store: store, kv: kv, sqlite: sqlite) }
        } catch {
            await store.close()
            await transport.close()
            await group.shutdown()
            throw error
        }
        await store.close()
        await transport.close()
        await group.shutdown()
    }
}

/// `sqlite`'s creates run in the same alternating rounds as etcd's Puts, for a ratio taken under
/// the same conditions.
func runEtcdCases(store: EtcdStore, kv: Etcdserverpb_KV.Client, sqlite: SQLiteStore) async throws {
    @Sendable func put(_ key: String) -> Etcdserverpb_PutRequest {
        var request = Etcdserverpb_PutRequest()
        request.key = Array(key.utf8)
        request.value = value
        return request
    }

    /// The Txn `EtcdStore` sends for a create (`existing` false) or an unconditional update.
    @Sendable func guarded(_ key: String, existing: Bool) -> Etcdserverpb_TxnRequest {
        var compare = Etcdserverpb_Compare()
        compare.key = Array(key.utf8)
        compare.target = .create
        compare.result = existing ? .greater : .equal
        compare.createRevision = 0
        var write = put(key)
        write.ignoreLease = existing
        var operation = Etcdserverpb_RequestOp()
        operation.request = .requestPut(write)
        var request = Etcdserverpb_TxnRequest()
        request.compare = [compare]
        request.success = [operation]
        if existing {
            var read = Etcdserverpb_RangeRequest()
            read.key = Array(key.utf8)
            read.keysOnly = true
            var failure = Etcdserverpb_RequestOp()
            failure.request = .requestRange(read)
            request.failure = [failure]
        }
        return request
    }

    var summary: [String] = []
    var overhead: [String] = []
    var cpu: [String] = []
    var unguarded: [String] = []
    var guardCost: [String] = []
    func percent(_ name: String, _ ratio: Double) -> String { String(format: "%@ %+.1f %%", name, (ratio - 1) * 100) }

    if etcdCases.contains("creates") {
        let created = try await alternate(workers: 16, seconds: seconds, rounds: rounds, [
            { worker, iteration in _ = try await kv.put(put("/raw/w\(worker)/\(iteration)")) },
            { worker, iteration in _ = try await kv.txn(guarded("/txn/w\(worker)/\(iteration)", existing: false)) },
            { worker, iteration in _ = try await store.create("/bench/w\(worker)/\(iteration)", value: value) },
            { worker, iteration in _ = try await sqlite.create("/bench/w\(worker)/\(iteration)", value: value) },
        ])
        let (puts, txns, creates, sqliteCreates) = (created[0].rate, created[1].rate, created[2].rate, created[3].rate)
        report("etcd raw Put (new keys), 16 writers", puts, created[0].cpuText)
        report("etcd raw Txn (create guard), 16 writers", txns, created[1].cpuText + " what EtcdStore.create sends")
        report("EtcdStore creates, 16 writers", creates, created[2].cpuText)
        report("SQLiteStore creates, 16 writers", sqliteCreates, created[3].cpuText + " the same rounds, for the ratio")

        let created64 = try await alternate(workers: 64, seconds: seconds, rounds: rounds, [
            { worker, iteration in _ = try await kv.put(put("/raw64/w\(worker)/\(iteration)")) },
            { worker, iteration in _ = try await sqlite.create("/bench64/w\(worker)/\(iteration)", value: value) },
        ])
        let (puts64, sqliteCreates64) = (created64[0].rate, created64[1].rate)
        report("etcd raw Put (new keys), 64 writers", puts64, created64[0].cpuText)
        report("SQLiteStore creates, 64 writers", sqliteCreates64, created64[1].cpuText + " the same rounds, for the ratio")
        print("SQLite in the etcd rounds: \(commitNote(sqlite.statistics))")
        summary.append(String(format: "SQLiteStore creates ÷ etcd raw Put: %.2f× with 16 writers, %.2f× with 64  (target ≥ 2×)",
            sqliteCreates / puts, sqliteCreates64 / puts64))
        overhead.append(percent("creates", txns / creates))
        cpu.append(percent("creates", created[2].cpuPerOperation / created[1].cpuPerOperation))
        unguarded.append(percent("creates", puts / creates))
        guardCost.append(percent("creates", puts / txns))
    }

    let keys = 1000
    if !etcdCases.isDisjoint(with: ["updates", "gets", "raw-gets", "store-gets"]) {
        for index in 0..<keys {
            _ = try await store.create("/bench/k\(index)", value: value)
        }
    }
    if etcdCases.contains("updates") {
        let updated = try await alternate(workers: 16, seconds: seconds, rounds: rounds, [
            { worker, iteration in _ = try await kv.put(put("/bench/k\((worker * 61 + iteration) % keys)")) },
            { worker, iteration in _ = try await kv.txn(guarded("/bench/k\((worker * 61 + iteration) % keys)", existing: true)) },
            { worker, iteration in
                _ = try await store.update("/bench/k\((worker * 61 + iteration) % keys)", value: value, expectedRevision: 0)
            },
        ])
        let (overwrites, updateTxns, updates) = (updated[0].rate, updated[1].rate, updated[2].rate)
        report("etcd raw Put (existing keys), 16 writers", overwrites, updated[0].cpuText)
        report("etcd raw Txn (update guard), 16 writers", updateTxns, updated[1].cpuText + " what EtcdStore.update sends")
        report("EtcdStore updates, 16 writers", updates, updated[2].cpuText)
        overhead.append(percent("updates", updateTxns / updates))
        cpu.append(percent("updates", updated[2].cpuPerOperation / updated[1].cpuPerOperation))
        unguarded.append(percent("updates", overwrites / updates))
        guardCost.append(percent("updates", overwrites / updateTxns))
    }

    // Profiling aids: a fixed number of gets through one path only (under `valgrind --tool=callgrind`,
    // instructions per get without the noise of a shared machine's timing).
    for (name, useStore) in [("raw-gets", false), ("store-gets", true)] where etcdCases.contains(name) {
        let cpu = processCPU()
        let rate = try await measure(workers: 16, seconds: 3600, limit: fixedOperations) { worker, iteration in
            let key = "/bench/k\((worker * 61 + iteration) % keys)"
            if useStore {
                _ = try await store.get(key)
            } else {
                var request = Etcdserverpb_RangeRequest()
                request.key = Array(key.utf8)
                _ = try await kv.range(request)
            }
        }
        report("\(name), \(fixedOperations) in all, 16 readers", rate,
            String(format: "(client CPU %.0f µs/op)", (processCPU() - cpu).seconds * 1e6 / Double(fixedOperations)))
    }

    if etcdCases.contains("gets") {
        let read = try await alternate(workers: 16, seconds: seconds, rounds: rounds, [
            { worker, iteration in
                var request = Etcdserverpb_RangeRequest()
                request.key = Array("/bench/k\((worker * 61 + iteration) % keys)".utf8)
                _ = try await kv.range(request)
            },
            { worker, iteration in _ = try await store.get("/bench/k\((worker * 61 + iteration) % keys)") },
        ])
        let (ranges, gets) = (read[0].rate, read[1].rate)
        report("etcd raw Range (one key), 16 readers", ranges, read[0].cpuText)
        report("EtcdStore gets, 16 readers", gets, read[1].cpuText)
        overhead.append(percent("gets", ranges / gets))
        cpu.append(percent("gets", read[1].cpuPerOperation / read[0].cpuPerOperation))
    }

    if etcdCases.contains("watch") {
        // 4 watchers follow 16 writers live.
        let (deliveries, writes) = try await watchDeliveries(store, prefix: "/watched/", writers: 16)
        report("EtcdStore watch deliveries, 4 watchers", deliveries, String(format: "(%.0f writes/s being watched)", writes))
    }

    print("")
    for line in summary { print(line) }
    // The like-for-like anchor is the raw request EtcdStore sends: a create must be guarded
    // (create_revision == 0) and an update compares revisions, so each is a Txn; a raw Put does less
    // work in etcd itself, and the Put ratios show that cost of the guard, not EtcdStore's.
    if !overhead.isEmpty {
        print("EtcdStore overhead vs the same raw request (Txn for writes, Range for gets; like-for-like): "
            + overhead.joined(separator: ", ") + "  (target ≤ 10 %)")
        print("EtcdStore client CPU per operation vs the same raw request: " + cpu.joined(separator: ", "))
    }
    if !unguarded.isEmpty {
        print("EtcdStore writes vs raw unguarded Put (not like-for-like: includes etcd's cost of the Txn guard): "
            + unguarded.joined(separator: ", "))
        print("etcd's own cost of the guard, raw Txn vs raw Put: " + guardCost.joined(separator: ", "))
    }
}

final class Counter: Sendable {
    let value = Atomic<Int>(0)
}
