import CapstanAPI
import CapstanAPIServer
import CapstanAPIServerHost
import CapstanEtcdLauncher
import CapstanRPC
import CapstanStore
import CapstanTestSupport
import Testing

/// An API server on etcd compacts it (`StoreCompactor`), as kube-apiserver does: etcd does not
/// compact itself, and its database would grow with every write until its space quota stops it.
@Suite("etcd compaction by the API server", .serialized)
struct EtcdCompactionTests {
    @Test(.timeLimit(.minutes(3)))
    func compactsEtcdToTheRevisionReadAnIntervalBefore() async throws {
        try await Self.withHostOnEtcd(compactionInterval: .milliseconds(300)) { api, etcd in
            let first = try await api.pods.create(Make.pod("p0"))
            for index in 1...5 { _ = try await api.pods.create(Make.pod("p\(index)")) }
            // History at the first create goes once the compactor has passed it.
            let compacted = await eventually(timeout: .seconds(60)) {
                do throws(StoreError) {
                    _ = try await etcd.list(prefix: "/registry/", after: nil, limit: 1, revision: Int64(first.metadata.resourceVersion))
                    return false
                } catch {
                    if case .compacted = error { return true }
                    return false
                }
            }
            #expect(compacted, "etcd still holds revision \(first.metadata.resourceVersion)")
            // The server carries on: writes, reads and a watch from a recent revision.
            let last = try await api.pods.create(Make.pod("after"))
            #expect(try await api.pods.get(Make.get("after")) == last)
            #expect(try await api.pods.list(Make.list()).items.count == 7)
        }
    }

    @Test("without an interval nothing is compacted", .timeLimit(.minutes(3)))
    func noIntervalNoCompaction() async throws {
        try await Self.withHostOnEtcd(compactionInterval: nil) { api, etcd in
            let first = try await api.pods.create(Make.pod("p0"))
            for index in 1...5 { _ = try await api.pods.create(Make.pod("p\(index)")) }
            try await Task.sleep(for: .seconds(2))
            let page = try await etcd.list(prefix: "/registry/pods/", after: nil, limit: 10, revision: Int64(first.metadata.resourceVersion))
            #expect(page.items.count == 1)
        }
    }

    /// Runs `body` against an API server on a fresh one-member etcd (with `compactionInterval`),
    /// with the API's clients and a store client of its own on the same etcd.
    static func withHostOnEtcd(
        compactionInterval: Duration?, _ body: (APIClients, EtcdStore) async throws -> Void
    ) async throws {
        try #require(EtcdCluster.isAvailable, "etcd is not installed: run `make deps` (Debian package etcd-server)")
        try await withEtcdCluster(members: 1) { cluster in
            let address = cluster.members[0].clientAddress
            let options = testOptions { $0.storeCompactionInterval = compactionInterval }
            let host = try await bounded("the server to start") {
                try await APIServerHost.start(store: .etcd([address]), options: options)
            }
            let clients = try HTTP2Clients(address: host.address)
            let etcd = try EtcdStore(endpoints: [address])
            do {
                try await body(clients.api, etcd)
            } catch {
                Issue.record("\(error)")
            }
            await etcd.close()
            await clients.close()
            await host.stop()
        }
    }
}
