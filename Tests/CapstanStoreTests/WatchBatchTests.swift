import CapstanStore
import Testing

/// `WatchStream.Iterator.nextBatch(limit:)`: the events `next()` gives, several at once.
@Suite("Watch batches")
struct WatchBatchTests {
    @Test("batches hold the same events in revision order, history and live, at most the limit each")
    func batchesMatchSingleEvents() async throws {
        // The conformance suite's store: its small queue and history chunk make batches come
        // from history, from the live queue, and after falling behind, from history again.
        try await SQLiteStoreFactory().withFreshStore { store in
            var written: [Int64] = []
            for index in 0..<30 { written.append(try await store.create("/b/h\(index)", value: [UInt8(index)])) }
            _ = try await store.create("/other/x", value: [])
            let stream = try await store.watch(prefix: "/b/", fromRevision: 0)
            var iterator = stream.makeAsyncIterator()
            var seen: [WatchEvent] = []
            var largest = 0
            // Live writes while reading: a writer task, bounded in count.
            let writer = Task {
                for index in 0..<60 { _ = try await store.create("/b/l\(index)", value: [UInt8(index)]) }
            }
            for _ in 0..<400 where seen.count < 90 {
                // Alternate single events and batches: both read the same queue.
                if seen.count % 3 == 0, let event = try await iterator.next() {
                    seen.append(event)
                } else if let batch = try await iterator.nextBatch(limit: 5) {
                    #expect(!batch.isEmpty && batch.count <= 5)
                    largest = max(largest, batch.count)
                    seen.append(contentsOf: batch)
                }
            }
            try await writer.value
            #expect(seen.count == 90)
            #expect(seen.map(\.revision) == seen.map(\.revision).sorted() && Set(seen.map(\.revision)).count == 90)
            #expect(seen.allSatisfy { $0.entry.key.hasPrefix("/b/") && $0.kind == .put })
            #expect(Array(seen.prefix(30).map(\.revision)) == written)
            #expect(largest > 1, "queued events come several at once")
        }
    }
}
