import CapstanStore
import CapstanTestSupport
import Testing

/// The SQLite store in a fresh temporary directory; background compaction off so that cases
/// control compaction themselves. Small watcher queues and history chunks make every watch cross
/// between history and live events (and overflow back) many times.
struct SQLiteStoreFactory: StoreFactory {
    func withFreshStore(_ body: @Sendable (any Store) async throws -> Void) async throws {
        try await withTemporaryDirectory { directory in
            var options = SQLiteStoreOptions()
            options.retention = nil
            options.historyChunk = 7
            options.watcherQueueCapacity = 16
            let store = try await SQLiteStore.open(directory: directory, options: options)
            try await withCleanup({ await store.close() }) { try await body(store) }
        }
    }
}

@Suite("Store conformance: SQLite")
struct SQLiteConformanceTests {
    @Test(arguments: StoreConformanceCase.allCases)
    func conformance(_ scenario: StoreConformanceCase) async throws {
        try await StoreConformance.run(scenario, with: SQLiteStoreFactory())
    }
}
