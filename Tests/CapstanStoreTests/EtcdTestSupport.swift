import CapstanEtcdLauncher
import CapstanStore
import CapstanTestSupport
import Testing

/// Which member a cluster test kills: the raft leader, or a follower.
enum Victim: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case leader
    case follower

    var testDescription: String { rawValue }

    /// The member to kill, once the cluster has a leader.
    func index(in cluster: EtcdCluster) async throws -> Int {
        let leader = try await cluster.waitForLeader()
        return self == .leader ? leader : (leader + 1) % cluster.members.count
    }
}

extension EtcdCluster {
    /// Client addresses with member `first` first: the store's connections go there while it is up.
    func endpoints(first: Int) -> [String] {
        [members[first].clientAddress] + members.indices.filter { $0 != first }.map { members[$0].clientAddress }
    }
}

/// An `EtcdStore` on `endpoints`, closed after `body` (also when it throws).
func withEtcdStore<T>(
    _ endpoints: [String], options: EtcdStoreOptions = EtcdStoreOptions(), _ body: (EtcdStore) async throws -> T
) async throws -> T {
    let store = try await EtcdStore.connect(endpoints: endpoints, options: options)
    return try await withCleanup({ await store.close() }) { try await body(store) }
}

/// Events of `stream` up to and including the first at or after `revision`.
func collect(_ stream: WatchStream, through revision: Int64, seconds: Int = 300) async throws -> [WatchEvent] {
    try await bounded("watch events through revision \(revision)", seconds: seconds) {
        var events: [WatchEvent] = []
        guard revision > 0 else { return events }
        for try await event in stream {
            events.append(event)
            if event.revision >= revision { break }
        }
        return events
    }
}

/// Polls `condition` every 50 ms until it holds, failing with `TestTimeout` after `seconds`.
func waitUntil(_ what: String, seconds: Int = 120, _ condition: @Sendable () async -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while !(await condition()) {
        guard ContinuousClock.now < deadline else { throw TestTimeout(what: what) }
        try await Task.sleep(for: .milliseconds(50))
    }
}

/// Writes whose outcome a failure leaves unknown, made certain: after `unavailable` the key is read
/// back (reads are retried by the store) to learn whether the write was applied, and retried if not.
/// Each written value is unique and each key has one writer, so reading it back identifies the
/// write. Bounded by `attempts`.
enum CertainWrites {
    static let attempts = 200

    /// Creates `key` with `value`; returns the create's revision.
    static func create(_ store: any Store, _ key: String, _ value: [UInt8]) async throws -> Int64 {
        for _ in 0..<attempts {
            do {
                return try await store.create(key, value: value)
            } catch .unavailable {
                if let applied = try await readBack(store, key, value) { return applied }
            } catch .alreadyExists {
                // An earlier attempt that reported `unavailable` had been applied.
                if let applied = try await readBack(store, key, value) { return applied }
                throw StoreError.alreadyExists(key: key)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestTimeout(what: "creating \(key)")
    }

    /// Increments the decimal counter at `key` by read-modify-CAS; returns the update's revision.
    static func increment(_ store: any Store, _ key: String, tag: String) async throws -> Int64 {
        for _ in 0..<attempts {
            guard let current = try? await store.get(key) else {
                try await Task.sleep(for: .milliseconds(100))
                continue
            }
            let count = Int(String(decoding: current.value, as: UTF8.self).split(separator: "@").first ?? "0") ?? 0
            let next = Array("\(count + 1)@\(tag)".utf8)
            let outcome = await result { () async throws(StoreError) -> Int64 in
                try await store.update(key, value: next, expectedRevision: current.modRevision)
            }
            switch outcome {
            case .success(let revision):
                return revision
            case .failure(.conflict):
                continue
            case .failure(.unavailable):
                if let applied = try await readBack(store, key, next) { return applied }
                try await Task.sleep(for: .milliseconds(100))
            case .failure(let other):
                throw other
            }
        }
        throw TestTimeout(what: "incrementing \(key)")
    }

    /// The key's mod revision if it holds `value`, nil if it does not. Only for keys this caller
    /// alone writes: then a different value means this write was not applied.
    private static func readBack(_ store: any Store, _ key: String, _ value: [UInt8]) async throws -> Int64? {
        for _ in 0..<attempts {
            do {
                let current = try await store.get(key)
                return current.value == value ? current.modRevision : nil
            } catch .notFound {
                return nil
            } catch .unavailable {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        throw TestTimeout(what: "reading \(key) back")
    }
}

/// The outcome of a store call as a value.
func result<T>(_ body: () async throws(StoreError) -> T) async -> Result<T, StoreError> {
    do {
        return .success(try await body())
    } catch {
        return .failure(error)
    }
}
