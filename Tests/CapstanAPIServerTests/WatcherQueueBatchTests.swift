@testable import CapstanAPIServer
import Synchronization
import Testing

/// `WatcherQueue.forEachBatch`: what the watch handler uses to write each wake-up's events in
/// one batch.
@Suite struct WatcherQueueBatchTests {
    @Test("each wake-up takes what is queued by then, in order, at most `limit` at a time")
    func batchesInOrder() async throws {
        let queue = WatcherQueue(limit: 100, initial: [.event([0])], lastRevision: 0)
        for value in 1...4 { queue.push([UInt8(value)], revision: Int64(value)) }
        let batches = Mutex<[[[UInt8]]]>([])
        let taken = Atomic<Int>(0)
        let puller = Task {
            try await queue.forEachBatch(upTo: 3) { batch in
                batches.withLock { $0.append(batch) }
                taken.add(batch.count, ordering: .relaxed)
            }
        }
        #expect(await bounded { taken.load(ordering: .relaxed) == 5 })
        // The puller now waits; a burst pushed meanwhile comes in batches of at most three.
        for value in 5...20 { queue.push([UInt8(value)], revision: Int64(value)) }
        queue.end(nil)
        try await puller.value
        let all = batches.withLock { $0 }
        #expect(all.prefix(2) == [[[0], [1], [2]], [[3], [4]]])
        #expect(all.allSatisfy { !$0.isEmpty && $0.count <= 3 })
        #expect(all.flatMap { $0 } == (0...20).map { [UInt8($0)] })
    }

    @Test("a slow watcher gets what was queued, then watcherTooSlow")
    func overflowAfterQueued() async throws {
        let queue = WatcherQueue(limit: 2, initial: [], lastRevision: 0)
        #expect(queue.push([1], revision: 1))
        #expect(queue.push([2], revision: 2))
        #expect(!queue.push([3], revision: 3))
        var taken: [[UInt8]] = []
        await #expect(throws: RegistryError.watcherTooSlow(limit: 2)) {
            try await queue.forEachBatch(upTo: 64) { taken += $0 }
        }
        #expect(taken == [[1], [2]])
    }

    @Test("cancelling the pulling task ends a waiting forEachBatch and the watch")
    func cancellationWhileWaiting() async throws {
        let queue = WatcherQueue(limit: 10, initial: [], lastRevision: 0)
        let taken = Atomic<Int>(0)
        let puller = Task {
            try await queue.forEachBatch(upTo: 64) { taken.add($0.count, ordering: .relaxed) }
        }
        queue.push([1], revision: 1)
        #expect(await bounded { taken.load(ordering: .relaxed) == 1 })
        puller.cancel()
        try await puller.value
        #expect(queue.isEnded)
        #expect(!queue.push([2], revision: 2))
    }
}

/// Polls `condition` every 5 ms for at most `timeout`.
private func bounded(timeout: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}
