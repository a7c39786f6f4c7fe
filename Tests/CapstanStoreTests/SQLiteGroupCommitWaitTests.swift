@testable import CapstanStore
import CapstanTestSupport
import Foundation
import Testing

/// Group commit's wait (`SQLiteStoreOptions.groupCommitWait`): when it applies, that it ends once
/// enough writes are pending or the wait is over, and that a lone writer never waits. The waits
/// here are far longer than any bound the tests allow, so a wait where none belongs shows as a
/// failure (or a test that takes that long), never as a slower pass.
@Suite("SQLiteStore group commit wait")
struct SQLiteGroupCommitWaitTests {
    static func options(wait: Duration) -> SQLiteStoreOptions {
        var options = SQLiteStoreOptions()
        options.retention = nil
        options.groupCommitWait = wait
        return options
    }

    /// Queues `count` creates behind the held writer, then releases it: one batch of `count`.
    static func heldBatch(_ store: SQLiteStore, prefix: String, count: Int) async throws {
        store.writer.hold(true)
        async let created: Void = withThrowingTaskGroup(of: Int64.self) { group in
            for index in 0..<count { group.addTask { try await store.create("\(prefix)/\(index)", value: [1]) } }
            try await group.waitForAll()
        }
        for _ in 0..<2000 where store.writer.pendingCount < count { try await Task.sleep(for: .milliseconds(5)) }
        #expect(store.writer.pendingCount == count)
        store.writer.hold(false)
        try await created
    }

    @Test func aLoneWriterNeverWaits() async throws {
        try await withTemporaryDirectory { directory in
            // A wait of a minute: one wait would fail the bound below.
            let store = try await SQLiteStore.open(directory: directory, options: Self.options(wait: .seconds(60)))
            let start = ContinuousClock.now
            var revision = try await store.create("/lone", value: [0])
            for step in 1...20 {
                revision = try await store.update("/lone", value: [UInt8(step)], expectedRevision: revision)
            }
            #expect(ContinuousClock.now - start < .seconds(30))
            #expect(store.statistics.writeTransactions == 21)
            await store.close()
        }
    }

    @Test func theWaitEndsWhenAsManyWritesAsLastTimeArePending() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(directory: directory, options: Self.options(wait: .seconds(60)))
            try await Self.heldBatch(store, prefix: "/first", count: 8)
            let before = store.statistics.writeTransactions
            // Eight callers again: whatever the writer takes first, it waits for the rest (for up
            // to a minute), and the eighth write wakes it.
            let start = ContinuousClock.now
            let revisions = try await withThrowingTaskGroup(of: Int64.self) { group in
                for index in 0..<8 { group.addTask { try await store.create("/second/\(index)", value: [2]) } }
                return try await group.reduce(into: [Int64]()) { $0.append($1) }
            }
            #expect(ContinuousClock.now - start < .seconds(30))
            #expect(revisions.sorted() == Array(9...16))
            #expect(store.statistics.writeTransactions - before == 1)
            await store.close()
        }
    }

    @Test func theWaitIsBoundedAndItsWritesCommitTogether() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(
                directory: directory, options: Self.options(wait: .milliseconds(200)))
            try await Self.heldBatch(store, prefix: "/first", count: 8)
            let before = store.statistics
            // Three callers where eight were: they wait for the five that never come, then commit.
            let revisions = try await withThrowingTaskGroup(of: Int64.self) { group in
                for index in 0..<3 { group.addTask { try await store.create("/second/\(index)", value: [2]) } }
                return try await group.reduce(into: [Int64]()) { $0.append($1) }
            }
            #expect(revisions.sorted() == Array(9...11))
            let after = store.statistics
            #expect(after.writesCompleted - before.writesCompleted == 3)
            // The first of them may have been taken alone, before the others were queued.
            #expect((1...2).contains(after.writeTransactions - before.writeTransactions))
            #expect(try await store.get("/second/2").modRevision > 8)
            await store.close()
        }
    }

    @Test func closingEndsAWait() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteStore.open(directory: directory, options: Self.options(wait: .seconds(60)))
            try await Self.heldBatch(store, prefix: "/first", count: 4)
            let start = ContinuousClock.now
            async let lone = store.create("/lone", value: [3])
            // Bounded wait for the writer to take it (and wait for three more).
            for _ in 0..<2000 where store.writer.pendingCount > 0 { try await Task.sleep(for: .milliseconds(5)) }
            try await Task.sleep(for: .milliseconds(50))
            await store.close()
            // Closing finishes what is queued: the write is committed, not failed, and not after a minute.
            #expect(try await lone == 5)
            #expect(ContinuousClock.now - start < .seconds(30))
        }
    }
}
