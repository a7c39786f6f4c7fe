@testable import CapstanStore
import CapstanTestSupport
import Foundation
import Testing

/// The writer's WAL write buffer (`WALWriteBuffer`): a commit reaches the WAL in one write (or, when
/// larger than the buffer, in several), and what it wrote reads back intact, live and after reopening.
@Suite("SQLiteStore WAL write buffer")
struct SQLiteWALBufferTests {
    /// WAL writes and fsyncs of one batch of `count` creates of `valueBytes` each.
    private static func walOperations(buffer: Int, count: Int, valueBytes: Int) async throws -> (writes: Int, syncs: Int) {
        let vfs = try FaultVFS()
        defer { vfs.unregister() }
        return try await withTemporaryDirectory { directory in
            var options = SQLiteFaultTests.options(vfs: vfs)
            options.walWriteBufferBytes = buffer
            let store = try await SQLiteStore.open(directory: directory + "/data", options: options)
            _ = try await store.create("/first", value: [])
            let (writes, syncs) = (vfs.passed(.write, on: .wal), vfs.passed(.sync, on: .wal))
            let results = try await SQLiteFaultTests.batch(
                store, (0..<count).map { ("/k/\($0)", [UInt8](repeating: UInt8($0), count: valueBytes)) })
            for result in results { _ = try result.get() }
            let operations = (vfs.passed(.write, on: .wal) - writes, vfs.passed(.sync, on: .wal) - syncs)
            await store.close()
            return operations
        }
    }

    @Test func aCommitIsOneWALWrite() async throws {
        let buffered = try await Self.walOperations(buffer: 124 << 10, count: 20, valueBytes: 1000)
        let unbuffered = try await Self.walOperations(buffer: 0, count: 20, valueBytes: 1000)
        #expect(buffered.syncs == 1 && unbuffered.syncs == 1, "one commit, one fsync: \(buffered), \(unbuffered)")
        #expect(buffered.writes == 1, "the commit's frames took \(buffered.writes) writes")
        // SQLite writes a frame's header and its page separately; a batch of 20 kilobyte values is
        // several pages.
        #expect(unbuffered.writes >= 8, "without the buffer the commit took only \(unbuffered.writes) writes")
    }

    @Test func aCommitLargerThanTheBufferTakesSeveralWrites() async throws {
        let operations = try await Self.walOperations(buffer: 16 << 10, count: 10, valueBytes: 20_000)
        #expect(operations.syncs == 1)
        // About 200 KB of frames through a 16 KiB buffer.
        #expect(operations.writes >= 10 && operations.writes <= 40, "\(operations)")
    }

    @Test(arguments: [0, 8192, 124 << 10]) func largeAndSmallValuesReadBackLiveAndAfterReopening(buffer: Int) async throws {
        try await withTemporaryDirectory { directory in
            let data = directory + "/data"
            var options = SQLiteFaultTests.options(vfs: nil)
            options.walWriteBufferBytes = buffer
            // Values from empty to several buffers long, each with a pattern of its own.
            let sizes = [0, 1, 100, 4095, 4096, 4097, 30_000, 300_000]
            func value(_ index: Int, _ size: Int) -> [UInt8] { (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) } }
            let store = try await SQLiteStore.open(directory: data, options: options)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, size) in sizes.enumerated() {
                    group.addTask { _ = try await store.create("/v/\(index)", value: value(index, size)) }
                }
                try await group.waitForAll()
            }
            for (index, size) in sizes.enumerated() {
                #expect(try await store.get("/v/\(index)").value == value(index, size))
            }
            await store.close()
            let reopened = try await SQLiteStore.open(directory: data, options: options)
            for (index, size) in sizes.enumerated() {
                #expect(try await reopened.get("/v/\(index)").value == value(index, size), "after reopening")
            }
            await reopened.close()
        }
    }
}
