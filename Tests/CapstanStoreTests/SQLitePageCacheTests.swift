@testable import CapstanStore
import CapstanTestSupport
import Foundation
import Testing

/// The wrapped page cache (`PageCache`): writes in random key order split index pages, and SQLite
/// then swaps page numbers through its temporary one, which the wrapper files under key 0. The
/// database stays whole: every key reads back as written, and SQLite's integrity check passes,
/// also after the store is reopened.
@Suite("SQLite page cache")
struct SQLitePageCacheTests {
    /// A small deterministic generator (xorshift64), so a failure can be replayed.
    struct Xorshift: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
    }

    static func key(_ random: inout Xorshift) -> String {
        let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8)
        let name = (0..<24).map { _ in letters[Int(random.next() % UInt64(letters.count))] }
        return "/registry/pods/default/" + String(decoding: name, as: UTF8.self)
    }

    static func value(_ random: inout Xorshift, tag: Int) -> [UInt8] {
        let count = 400 + Int(random.next() % 900)
        return (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ tag) }
    }

    static func contents(_ store: SQLiteStore) async throws -> [String: [UInt8]] {
        var found: [String: [UInt8]] = [:]
        var after: String?
        repeat {
            let page = try await store.list(prefix: "/registry/", after: after, limit: 500)
            for item in page.items { found[item.key] = item.value }
            after = page.more ? page.items.last?.key : nil
        } while after != nil
        return found
    }

    static func integrity(_ directory: String) throws -> String? {
        let connection = try Connection(path: SQLiteStore.databasePath(directory: directory), create: false)
        defer { connection.close() }
        return try connection.scalarText("PRAGMA integrity_check")
    }

    @Test(.timeLimit(.minutes(3)))
    func randomOrderWritesStayWhole() async throws {
        try await withTemporaryDirectory { directory in
            var options = SQLiteStoreOptions()
            options.retention = nil
            let store = try await SQLiteStore.open(directory: directory, options: options)
            #expect(PageCache.installed)
            let movesBefore = PageCache.redirectedMoves
            var random = Xorshift(state: 0x9E37_79B9_7F4A_7C15)
            var model: [String: [UInt8]] = [:]
            // 3,000 creates in random key order, 16 at a time (so commits carry several).
            var pending: [(String, [UInt8])] = []
            for index in 0..<3_000 {
                pending.append((Self.key(&random), Self.value(&random, tag: index)))
            }
            for start in stride(from: 0, to: pending.count, by: 16) {
                let batch = Array(pending[start..<min(start + 16, pending.count)])
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (key, value) in batch { group.addTask { _ = try await store.create(key, value: value) } }
                    try await group.waitForAll()
                }
                for (key, value) in batch { model[key] = value }
            }
            // Updates and deletes across the key space.
            let keys = model.keys.sorted()
            for (index, key) in keys.enumerated() where index % 5 == 0 {
                let value = Self.value(&random, tag: index + 7)
                _ = try await store.update(key, value: value, expectedRevision: 0)
                model[key] = value
            }
            for (index, key) in keys.enumerated() where index % 7 == 3 {
                _ = try await store.delete(key, expectedRevision: 0)
                model[key] = nil
            }
            #expect(PageCache.redirectedMoves > movesBefore, "no page moved through the temporary number")
            #expect(try await Self.contents(store) == model)
            await store.close()
            #expect(try Self.integrity(directory) == "ok")

            let reopened = try await SQLiteStore.open(directory: directory, options: options)
            #expect(try await Self.contents(reopened) == model)
            await reopened.close()
        }
    }
}
