import CapstanStore
import Testing

/// Makes an empty store for one conformance case and disposes of it afterwards. Each backend's test
/// suite provides one (SQLite in a temp dir now; etcd against a real cluster later).
protocol StoreFactory: Sendable {
    func withFreshStore(_ body: @Sendable (any Store) async throws -> Void) async throws
}

/// The `Store` conformance suite: every case is written once against `any Store`. A backend's suite
/// runs `StoreConformance.run(_:with:)` for each of `StoreConformanceCase.allCases`.
enum StoreConformanceCase: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case revisionsAndOrdering
    case compareAndSwap
    case conditionalWrites
    case conditionalWriteRacingDelete
    case concurrentCounters
    case listAtRevision
    case listPagingIsConsistent
    case watchResumeFromEveryRevision
    case watchSeamUnderConcurrentWrites
    case watchFutureRevision
    case compaction
    case largeValues
    case hundredThousandKeys
    case leaseRevoke
    case leaseExpiry
    case invalidRequests

    var testDescription: String { rawValue }
}

enum StoreConformance {
    static func run(_ scenario: StoreConformanceCase, with factory: some StoreFactory) async throws {
        try await factory.withFreshStore { store in
            switch scenario {
            case .revisionsAndOrdering: try await revisionsAndOrdering(store)
            case .compareAndSwap: try await compareAndSwap(store)
            case .conditionalWrites: try await conditionalWrites(store)
            case .conditionalWriteRacingDelete: try await conditionalWriteRacingDelete(store)
            case .concurrentCounters: try await concurrentCounters(store)
            case .listAtRevision: try await listAtRevision(store)
            case .listPagingIsConsistent: try await listPagingIsConsistent(store)
            case .watchResumeFromEveryRevision: try await watchResumeFromEveryRevision(store)
            case .watchSeamUnderConcurrentWrites: try await watchSeamUnderConcurrentWrites(store)
            case .watchFutureRevision: try await watchFutureRevision(store)
            case .compaction: try await compaction(store)
            case .largeValues: try await largeValues(store)
            case .hundredThousandKeys: try await hundredThousandKeys(store)
            case .leaseRevoke: try await leaseRevoke(store)
            case .leaseExpiry: try await leaseExpiry(store)
            case .invalidRequests: try await invalidRequests(store)
            }
        }
    }
}

/// What the store should hold, replayed from acknowledged writes; yields the events a watch must see.
struct StoreModel {
    private(set) var live: [String: KeyValue] = [:]
    private(set) var events: [WatchEvent] = []
    /// States after each revision, for listing at a revision.
    private(set) var history: [Int64: [String: KeyValue]] = [:]

    mutating func put(_ key: String, _ value: [UInt8], revision: Int64, lease: Int64 = 0) {
        let createRevision = live[key]?.createRevision ?? revision
        let entry = KeyValue(
            key: key, value: value, createRevision: createRevision, modRevision: revision,
            lease: live[key]?.lease ?? lease)
        live[key] = entry
        events.append(WatchEvent(kind: .put, entry: entry))
        history[revision] = live
    }

    mutating func delete(_ key: String, revision: Int64) {
        guard let old = live.removeValue(forKey: key) else { return }
        events.append(
            WatchEvent(
                kind: .delete,
                entry: KeyValue(
                    key: key, value: [], createRevision: old.createRevision, modRevision: revision, lease: old.lease),
                prevValue: old.value))
        history[revision] = live
    }

    func events(after revision: Int64, prefix: String) -> [WatchEvent] {
        events.filter { $0.revision > revision && $0.entry.key.utf8.starts(with: prefix.utf8) }
    }

    func state(at revision: Int64, prefix: String) -> [KeyValue] {
        let at = history.keys.filter { $0 <= revision }.max().flatMap { history[$0] } ?? [:]
        return at.values.filter { $0.key.utf8.starts(with: prefix.utf8) }.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
    }
}

extension StoreError {
    var isCompacted: Bool {
        if case .compacted = self { return true }
        return false
    }
}

/// The `StoreError` `body` throws, or nil (any other error is recorded as an issue).
func storeError(_ body: () async throws -> Void) async -> StoreError? {
    do {
        try await body()
        return nil
    } catch let error as StoreError {
        return error
    } catch {
        Issue.record("expected a StoreError, got \(error)")
        return nil
    }
}
