import CapstanStore
import CapstanTestSupport
import Testing

extension StoreConformance {
    /// Writes a mixed history (creates, updates, deletes, re-creates) under `/w/` and elsewhere.
    static func writeHistory(_ store: any Store, model: inout StoreModel, writes: Int, seed: Int) async throws {
        var generator = SplitMix(seed: UInt64(seed))
        for step in 0..<writes {
            let prefix = generator.next() % 4 == 0 ? "/elsewhere/" : "/w/"
            let key = "\(prefix)k\(generator.next() % 6)"
            let value = bytes("\(key)@\(step)")
            if model.live[key] == nil {
                model.put(key, value, revision: try await store.create(key, value: value))
            } else if generator.next() % 4 == 0 {
                model.delete(key, revision: try await store.delete(key, expectedRevision: 0).modRevision)
            } else {
                model.put(key, value, revision: try await store.update(key, value: value, expectedRevision: 0))
            }
        }
    }

    /// A watch from every retained revision delivers exactly the changes after it, then live ones.
    static func watchResumeFromEveryRevision(_ store: any Store) async throws {
        var model = StoreModel()
        try await writeHistory(store, model: &model, writes: 80, seed: 1)
        let head = try await store.currentRevision()
        for from in 0...head {
            let stream = try await store.watch(prefix: "/w/", fromRevision: from)
            let expected = model.events(after: from, prefix: "/w/")
            let events = try await collect(stream, count: expected.count)
            #expect(events == expected, "watch from revision \(from)")
        }
        // Then live: a watch that caught up sees the next write next.
        let stream = try await store.watch(prefix: "/w/", fromRevision: head - 5)
        let backlog = model.events(after: head - 5, prefix: "/w/")
        #expect(try await collect(stream, count: backlog.count) == backlog)
        model.put("/w/live", bytes("now"), revision: try await store.create("/w/live", value: bytes("now")))
        _ = try await store.create("/elsewhere/live", value: [])
        model.delete("/w/live", revision: try await store.delete("/w/live", expectedRevision: 0).modRevision)
        #expect(try await collect(stream, count: 2) == Array(model.events.suffix(2)))
    }

    /// Watchers started at many revisions consume while a writer keeps writing: each sees the exact
    /// sequence (no gap, no duplicate where history meets live events).
    static func watchSeamUnderConcurrentWrites(_ store: any Store) async throws {
        var model = StoreModel()
        try await writeHistory(store, model: &model, writes: 40, seed: 2)
        let head = try await store.currentRevision()
        let starts: [Int64] = [0, 1, head / 3, head / 2, head - 1, head, head, head]
        var consumers: [Task<[WatchEvent], any Error>] = []
        for from in starts {
            let stream = try await store.watch(prefix: "/w/", fromRevision: from)
            consumers.append(Task { try await collect(stream, until: "/w/end") })
        }
        try await writeHistory(store, model: &model, writes: 400, seed: 3)
        model.put("/w/end", [], revision: try await store.create("/w/end", value: []))
        for (from, consumer) in zip(starts, consumers) {
            let events = try await consumer.value
            #expect(events == model.events(after: from, prefix: "/w/"), "watch from \(from)")
        }
    }

    /// A watch from a revision not yet written waits for it and starts just after it.
    static func watchFutureRevision(_ store: any Store) async throws {
        _ = try await store.create("/f/a", value: [])
        let head = try await store.currentRevision()
        let stream = try await store.watch(prefix: "/f/", fromRevision: head + 2)
        for index in 0..<4 { _ = try await store.create("/f/k\(index)", value: []) }
        let events = try await collect(stream, count: 2)
        #expect(events.map(\.revision) == [head + 3, head + 4])
    }

    /// Compaction: reads, paged lists and watches older than it fail with `compacted`; newer ones work.
    static func compaction(_ store: any Store) async throws {
        var model = StoreModel()
        try await writeHistory(store, model: &model, writes: 30, seed: 4)
        for index in 0..<6 { model.put("/w/page\(index)", [], revision: try await store.create("/w/page\(index)", value: [])) }
        let firstPage = try await store.list(prefix: "/w/", after: nil, limit: 2)
        #expect(firstPage.more)
        let unread = try await store.watch(prefix: "/w/", fromRevision: 3)
        try await writeHistory(store, model: &model, writes: 20, seed: 5)
        let head = try await store.currentRevision()
        let target = head - 5

        try await store.compact(target)

        let pageError = await storeError {
            _ = try await store.list(prefix: "/w/", after: firstPage.continueKey, limit: 2, revision: firstPage.revision)
        }
        #expect(pageError == .compacted(requested: firstPage.revision, compactedRevision: target))
        let watchError = await storeError {
            let stream = try await store.watch(prefix: "/w/", fromRevision: target - 1)
            for try await _ in stream { break }
        }
        #expect(watchError?.isCompacted == true, "\(String(describing: watchError))")
        let unreadError = await storeError { for try await _ in unread { break } }
        #expect(unreadError?.isCompacted == true, "a watch made before compaction: \(String(describing: unreadError))")

        // At and after the compaction revision everything is still there.
        let atTarget = try await store.list(prefix: "/w/", after: nil, limit: 0, revision: target)
        #expect(atTarget.items == model.state(at: target, prefix: "/w/"))
        #expect(try await store.list(prefix: "/w/").items == model.state(at: head, prefix: "/w/"))
        let expected = model.events(after: target, prefix: "/w/")
        #expect(try await collect(try await store.watch(prefix: "/w/", fromRevision: target), count: expected.count) == expected)

        #expect(await storeError { try await store.compact(target - 1) } == .compacted(requested: target - 1, compactedRevision: target))
        // Compacting again to where history already starts is done already, not an error.
        try await store.compact(target)
        if case .invalid? = await storeError({ try await store.compact(head + 10) }) {} else {
            Issue.record("compacting a future revision must be invalid")
        }
        try await store.compact(head)
        #expect(try await store.list(prefix: "/w/").items == model.state(at: head, prefix: "/w/"))
        // Writes go on after compaction, with the next revision.
        #expect(try await store.create("/w/after", value: []) == head + 1)
    }

    /// 1 MiB values round-trip through create, get, update, list, watch and delete.
    static func largeValues(_ store: any Store) async throws {
        var generator = SplitMix(seed: 9)
        let big = (0..<(1 << 20)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let bigger = big.reversed() + [1, 2, 3]
        let stream = try await store.watch(prefix: "/big/", fromRevision: 0)
        let created = try await store.create("/big/a", value: big)
        #expect(try await store.get("/big/a").value == big)
        _ = try await store.update("/big/a", value: Array(bigger), expectedRevision: created)
        #expect(try await store.list(prefix: "/big/").items.first?.value == Array(bigger))
        let deleted = try await store.delete("/big/a", expectedRevision: 0)
        #expect(deleted.value == Array(bigger))
        let events = try await collect(stream, count: 3)
        #expect(events.map(\.kind) == [.put, .put, .delete])
        #expect(events[0].entry.value == big && events[1].entry.value == Array(bigger))
        #expect(events[2].prevValue == Array(bigger))
    }

    /// 100,000 keys: written by 64 concurrent writers, listed in pages at one revision.
    static func hundredThousandKeys(_ store: any Store) async throws {
        let total = 100_000
        let writers = 64
        let start = try await store.currentRevision()
        try await bounded("creating \(total) keys", seconds: 600) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        for index in stride(from: writer, to: total, by: writers) {
                            _ = try await store.create("/many/\(pad(index))", value: bytes("value-\(index)"))
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        #expect(try await store.currentRevision() == start + Int64(total))
        var page = try await store.list(prefix: "/many/", after: nil, limit: 1000)
        let revision = page.revision
        var count = page.items.count
        var last = page.items.last?.key
        var ordered = true
        var pages = 1
        while page.more, pages <= total / 1000 + 1 {
            if pages == 50 { _ = try await store.create("/many/\(pad(total - 1))z", value: []) }
            page = try await store.list(prefix: "/many/", after: page.continueKey, limit: 1000, revision: revision)
            for item in page.items {
                if let last, !last.utf8.lexicographicallyPrecedes(item.key.utf8) { ordered = false }
                last = item.key
            }
            count += page.items.count
            pages += 1
        }
        #expect(ordered)
        #expect(count == total)
        #expect(pages == 100)
        #expect(try await store.get("/many/\(pad(4242))").value == bytes("value-4242"))
    }
}

/// A small deterministic generator, so every backend sees the same history.
struct SplitMix {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
