import CapstanAPI
import CapstanAPIServer
import CapstanAPIServerHost
import CapstanRPC
import CapstanStore
import CapstanTestSupport
import CapstanWire
import Foundation
import Testing

/// An API server on the embedded store whose WAL cannot be synced (through `FaultVFS`, beneath
/// SQLite): writes fail with UNAVAILABLE, reads go on from the cache, and the store probe turns
/// health NOT_SERVING; once the disk works again health is SERVING again before any write (the
/// probe's own pass through the writer seals the failed commit), and writes succeed.
@Suite("API server health on a SQLite writer that cannot write")
struct SQLiteWriterHealthTests {
    @Test(.timeLimit(.minutes(1)))
    func healthFollowsTheWriter() async throws {
        let vfs = try FaultVFS()
        defer { vfs.unregister() }
        try await withTemporaryDirectory { directory in
            var storeOptions = SQLiteStoreOptions()
            storeOptions.vfsName = vfs.name
            let store = try await SQLiteStore.open(directory: directory, options: storeOptions)
            try await withProbedServer(store: store, closeStore: { await store.close() }) { api in
                defer { vfs.disarm() }
                try await Self.exercise(api, vfs: vfs, store: store)
            }
        }
    }

    static func exercise(_ api: APIClients, vfs: FaultVFS, store: SQLiteStore) async throws {
        let before = try await api.pods.create(Make.pod("before"))
        let health = Grpc_Health_V1_Health.Client(api.rpc)
        var request = Grpc_Health_V1_HealthCheckRequest()
        request.service = Pods.serviceName
        let statuses = WatchReader(try await health.watch(request))
        defer { statuses.cancel() }
        #expect(try await Self.nextStatus(statuses) == .serving)

        vfs.arm(.sync, on: .wal, count: nil, code: SQLiteCode.ioerrFsync)
        let create = await rpcError { _ = try await api.pods.create(Make.pod("during")) }
        #expect(create.code == .unavailable, "\(create)")
        #expect(try await Self.nextStatus(statuses) == .notServing)
        #expect(try await health.check(Grpc_Health_V1_HealthCheckRequest()).status == .notServing)
        #expect(try await api.pods.get(Make.get("before")) == before)
        #expect(store.statistics.seals == 0)

        vfs.disarm()
        #expect(try await Self.nextStatus(statuses) == .serving)
        #expect(store.statistics.seals == 1)
        let after = try await api.pods.create(Make.pod("after"))
        #expect(try await api.pods.list(Make.list()).items == [after, before])
    }

    /// The next status the health watch sends, waiting at most 10 s (the probe runs every 100 ms).
    static func nextStatus(
        _ statuses: WatchReader<Grpc_Health_V1_HealthCheckResponse>
    ) async throws -> Grpc_Health_V1_HealthCheckResponse.ServingStatus? {
        try await bounded("a health status", seconds: 10) { try await statuses.next()?.status }
    }
}
