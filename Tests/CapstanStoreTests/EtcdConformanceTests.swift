import CapstanEtcdLauncher
import CapstanStore
import CapstanTestSupport
import Testing

/// A fresh one-member etcd (own process, random loopback ports, temporary directory) per case, and
/// an `EtcdStore` on it under a key prefix (so the prefix handling runs in every case).
struct EtcdStoreFactory: StoreFactory {
    var keyPrefix = "/capstan-test"

    func withFreshStore(_ body: @Sendable (any Store) async throws -> Void) async throws {
        try await withEtcdCluster(members: 1) { cluster in
            var options = EtcdStoreOptions()
            options.keyPrefix = keyPrefix
            let store = try await EtcdStore.connect(endpoints: cluster.clientAddresses, options: options)
            try await withCleanup({ await store.close() }) { try await body(store) }
        }
    }
}

/// The conformance suite against real etcd. Serialized: each case runs its own etcd, and the
/// machine's cores are shared with everything else.
@Suite("Store conformance: etcd", .serialized)
struct EtcdConformanceTests {
    @Test(arguments: StoreConformanceCase.allCases)
    func conformance(_ scenario: StoreConformanceCase) async throws {
        try await StoreConformance.run(scenario, with: EtcdStoreFactory())
    }
}
