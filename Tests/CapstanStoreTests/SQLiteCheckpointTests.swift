@testable import CapstanStore
import CapstanTestSupport
import Foundation
import Synchronization
import Testing

/// The background checkpointer (`WALMonitor`): it keeps the WAL bounded under sustained writes, even
/// while readers hold snapshots, and stops cleanly when the store closes, whatever it is doing.
/// (A failing checkpoint is in `SQLiteFaultTests.failedCheckpointsLoseNothing`.)
@Suite("SQLiteStore checkpoints")
struct SQLiteCheckpointTests {
    static let checkpointPages = 64
    static let walLimitPages = 256

    static func options(vfs: FaultVFS? = nil) -> SQLiteStoreOptions {
        var options = SQLiteStoreOptions()
        options.retention = nil
        options.vfsName = vfs?.name
        options.checkpointPages = checkpointPages
        options.walLimitPages = walLimitPages
        options.checkpointRetryDelay = .milliseconds(50)
        return options
    }

    static func walBytes(_ data: String) -> Int {
        let path = SQLiteStore.databasePath(directory: data) + "-wal"
        return ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }

    /// 3000 creates of 1 KiB would make a WAL of well over 3000 pages without checkpoints; with
    /// readers listing all along, the WAL after each commit stays within a few times the limit.
    @Test func walStaysBoundedUnderSustainedWrites() async throws {
        try await withTemporaryDirectory { directory in
            let data = directory + "/data"
            let store = try await SQLiteStore.open(directory: data, options: Self.options())
            let value = [UInt8](repeating: 7, count: 1024)
            let stop = Flag()
            let reader = Task {
                var lists = 0
                while !stop.isSet, lists < 100_000 {
                    _ = try await store.list(prefix: "/k/", after: nil, limit: 50)
                    lists += 1
                }
            }
            var largestFile = 0
            for round in 0..<30 {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<100 {
                        group.addTask { _ = try await store.create("/k/\(round)/\(index)", value: value) }
                    }
                    try await group.waitForAll()
                }
                largestFile = max(largestFile, Self.walBytes(data))
            }
            stop.set()
            try await reader.value
            let statistics = store.statistics
            #expect(statistics.writesCompleted == 3000)
            #expect(statistics.checkpoints > 0)
            #expect(statistics.checkpointFailures == 0)
            let bound = 4 * Self.walLimitPages
            #expect(statistics.largestWALFrames > Self.checkpointPages)
            #expect(statistics.largestWALFrames <= bound, "the WAL grew to \(statistics.largestWALFrames) pages")
            #expect(largestFile <= bound * (4096 + 24) + 32, "the WAL file grew to \(largestFile) bytes")
            #expect(try await store.list(prefix: "/k/").items.count == 3000)
            await store.close()
            let reopened = try await SQLiteStore.open(directory: data, options: Self.options())
            #expect(try await reopened.list(prefix: "/k/").items.count == 3000)
            #expect(try await reopened.currentRevision() == 3000)
            await reopened.close()
        }
    }

    /// Closing while checkpoints run, or while the checkpointer waits to retry a failed one (its
    /// retry delay far longer than the test's bound), ends promptly and loses nothing.
    @Test func closeDuringCheckpoint() async throws {
        let vfs = try FaultVFS()
        defer { vfs.unregister() }
        try await withTemporaryDirectory { directory in
            let data = directory + "/data"
            let value = [UInt8](repeating: 9, count: 1024)
            var written = 0
            // Closes right after writes that start checkpoints, several times.
            for round in 0..<5 {
                let store = try await SQLiteStore.open(directory: data, options: Self.options(vfs: vfs))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<200 {
                        group.addTask { _ = try await store.create("/c/\(round)/\(index)", value: value) }
                    }
                    try await group.waitForAll()
                }
                written += 200
                try await bounded("close during checkpoints", seconds: 60) { await store.close() }
            }
            // Closes while a failed checkpoint waits ten minutes to be retried.
            var options = Self.options(vfs: vfs)
            options.checkpointRetryDelay = .seconds(600)
            let store = try await SQLiteStore.open(directory: data, options: options)
            vfs.arm([.write, .sync], on: .database, count: nil, code: SQLiteCode.ioerrWrite)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<200 {
                    group.addTask { _ = try await store.create("/f/\(index)", value: value) }
                }
                try await group.waitForAll()
            }
            written += 200
            for _ in 0..<2000 where store.statistics.checkpointFailures == 0 {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(store.statistics.checkpointFailures > 0)
            try await bounded("close while a checkpoint waits to be retried", seconds: 60) { await store.close() }
            vfs.disarm()
            let reopened = try await SQLiteStore.open(directory: data, options: Self.options(vfs: vfs))
            #expect(try await reopened.list(prefix: "/").items.count == written)
            #expect(try await reopened.currentRevision() == Int64(written))
            await reopened.close()
        }
    }

    /// With `checkpointPages` nil, SQLite checkpoints inside commits and the store reports no
    /// background checkpoints; the data is the same.
    @Test func automaticCheckpointsWithoutTheBackgroundThread() async throws {
        try await withTemporaryDirectory { directory in
            var options = Self.options()
            options.checkpointPages = nil
            let store = try await SQLiteStore.open(directory: directory + "/data", options: options)
            for round in 0..<15 {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<100 {
                        group.addTask { _ = try await store.create("/a/\(round)/\(index)", value: [UInt8](repeating: 1, count: 1024)) }
                    }
                    try await group.waitForAll()
                }
            }
            #expect(store.statistics.checkpoints == 0)
            #expect(store.statistics.largestWALFrames == 0)
            #expect(try await store.list(prefix: "/a/").items.count == 1500)
            await store.close()
        }
    }

    /// A commit wakes the checkpointer only once `checkpointPages` frames lie past what it copied,
    /// also after the WAL started over, not after every commit of a long WAL.
    @Test func commitsWakeTheCheckpointerOnlyWhenAPassIsDue() {
        let monitor = WALMonitor(checkpointPages: 10, walLimitPages: 100)
        func commit(_ frames: Int, wakes: Bool, _ comment: Comment) {
            let before = monitor.wakeups.load(ordering: .relaxed)
            monitor.committed(frames: frames)
            #expect(monitor.wakeups.load(ordering: .relaxed) == before + (wakes ? 1 : 0), comment)
            #expect(monitor.signal.wait(timeout: .zero) == wakes, comment)
        }
        commit(5, wakes: false, "5 frames, none copied")
        commit(9, wakes: false, "9 frames, none copied")
        commit(12, wakes: true, "12 frames, none copied")
        monitor.copied.store(12, ordering: .relaxed)  // a pass copied them
        commit(15, wakes: false, "3 frames past the pass")
        commit(21, wakes: false, "9 frames past the pass")
        commit(22, wakes: true, "10 frames past the pass")
        commit(30, wakes: true, "still due: the pass has not run")
        monitor.copied.store(30, ordering: .relaxed)
        commit(3, wakes: false, "the WAL started over: 3 frames")
        commit(11, wakes: true, "the WAL started over: 11 frames, though fewer than copied before")
    }
}

/// A flag one task sets and another polls.
final class Flag: Sendable {
    private let state = Mutex(false)
    var isSet: Bool { state.withLock { $0 } }
    func set() { state.withLock { $0 = true } }
}
