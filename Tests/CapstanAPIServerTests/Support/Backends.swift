import CapstanAPIServer
import CapstanAPIServerHost
import CapstanEtcdLauncher
import CapstanHTTP2
import CapstanRPC
import CapstanStore
import CapstanTestSupport
import Foundation
import Synchronization
import Testing

/// The store an API server runs on in the HTTP/2 tests: embedded SQLite, or a real etcd member.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case etcd

    var testDescription: String { rawValue }
}

/// A store that outlives the API servers started on it (so one can be restarted), and a
/// connection of the test's own to read the store's history from.
final class BackendFixture: Sendable {
    let backend: Backend
    /// The SQLite directory or the etcd member's client address.
    private let location: String
    /// The store the test reads history from: for SQLite the store the current host serves
    /// (one process cannot open the directory twice), for etcd a separate connection.
    private let historyStore: Mutex<(any Store)?>

    private init(backend: Backend, location: String, historyStore: (any Store)?) {
        self.backend = backend
        self.location = location
        self.historyStore = Mutex(historyStore)
    }

    /// The store's address, as `capstan apiserver --store` takes it.
    var address: StoreAddress {
        switch backend {
        case .sqlite: .sqlite(location)
        case .etcd: .etcd([location])
        }
    }

    /// The store as the test sees it now (valid while a host runs, for SQLite).
    var store: any Store {
        get throws { try #require(historyStore.withLock { $0 }, "no store is open") }
    }

    /// Starts an API server over HTTP/2 on a random loopback port. etcd goes through the host's
    /// own `.etcd([endpoint])` path; SQLite is opened here without compaction (the history
    /// must stay readable) and closed by the host's `stop()`.
    func startHost(options: APIServerOptions) async throws -> APIServerHost {
        switch backend {
        case .etcd:
            return try await APIServerHost.start(store: address, options: options)
        case .sqlite:
            var storeOptions = SQLiteStoreOptions()
            storeOptions.retention = nil
            let store = try await SQLiteStore.open(directory: location, options: storeOptions)
            historyStore.withLock { $0 = store }
            return try await APIServerHost.start(
                store: store,
                closeStore: { [weak self] in
                    self?.historyStore.withLock { $0 = nil }
                    await store.close()
                },
                options: options)
        }
    }

    /// Runs `body` with a fresh backend: a temporary SQLite directory, or a one-member etcd
    /// cluster on random loopback ports in a temporary directory; removes it all afterwards.
    static func with<T>(_ backend: Backend, _ body: (BackendFixture) async throws -> T) async throws -> T {
        switch backend {
        case .sqlite:
            return try await withTemporaryDirectory { directory in
                try await body(BackendFixture(backend: backend, location: directory, historyStore: nil))
            }
        case .etcd:
            try #require(EtcdCluster.isAvailable, "etcd is not installed: run `make deps` (Debian package etcd-server)")
            return try await withEtcdCluster(members: 1) { cluster in
                let endpoint = cluster.members[0].clientAddress
                let history = try await EtcdStore.connect(endpoints: [endpoint])
                let fixture = BackendFixture(backend: backend, location: endpoint, historyStore: history)
                return try await withCleanup({ await history.close() }) { try await body(fixture) }
            }
        }
    }
}

/// Typed clients over a real HTTP/2 connection to `address`; `close()` releases it.
struct HTTP2Clients: Sendable {
    let api: APIClients
    private let transport: HTTP2ClientTransport
    private let group: EventLoopGroup

    init(address: String) throws {
        group = try EventLoopGroup(threads: 1, name: "capstan-test-client")
        transport = try HTTP2ClientTransport(targets: [address], group: group)
        api = APIClients(rpc: RPCClient(transport: transport))
    }

    func close() async {
        await transport.close()
        await group.shutdown()
    }
}
