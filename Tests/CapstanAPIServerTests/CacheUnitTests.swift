@testable import CapstanAPIServer
import CapstanAPI
import CapstanStore
import CapstanTestSupport
import CapstanWire
import Testing

/// The watch cache's pieces, without I/O.
@Suite("Watch cache units")
struct CacheUnitTests {
    static let keys = ObjectKeys(resource: "pods", namespaced: true)

    func object(_ name: String, namespace: String = "default", labels: [String: String] = [:], revision: Int64) -> CachedObject {
        var pod = Pod()
        pod.metadata.name = name
        pod.metadata.namespace = namespace
        pod.metadata.labels = labels
        let bytes = try! ProtoBytes.object(pod.serializedBytes(), withResourceVersion: revision)
        return CachedObject(
            key: Self.keys.key(namespace: namespace, name: name), namespace: namespace, name: name,
            selectorFields: SelectorFields(labels: labels, fields: pod.selectableFieldValues), revision: revision, bytes: bytes)
    }

    @Test("splicing the resource version matches the typed encoding, for every kind")
    func splice() throws {
        var pod = Pod()
        pod.metadata.name = "web"
        pod.metadata.labels = ["a": "b"]
        pod.metadata.resourceVersion = 5
        pod.spec.host = "m1"
        pod.status.phase = .running
        let spliced = try ProtoBytes.object(pod.serializedBytes(), withResourceVersion: 1234567)
        var expected = pod
        expected.metadata.resourceVersion = 1234567
        #expect(try Pod(serializedBytes: spliced) == expected)
        #expect(try Minion(serializedBytes: ProtoBytes.object(Minion().serializedBytes(), withResourceVersion: 9)).metadata.resourceVersion == 9)
        var endpoints = Endpoints()
        endpoints.endpoints = ["1.2.3.4:5"]
        let decoded = try Endpoints(serializedBytes: ProtoBytes.object(endpoints.serializedBytes(), withResourceVersion: 3))
        #expect(decoded.endpoints == ["1.2.3.4:5"] && decoded.metadata.resourceVersion == 3)
        #expect(throws: ProtoBytes.Malformed.self) { try ProtoBytes.object([0x0a, 0x05, 0x01], withResourceVersion: 1) }
    }

    @Test("events, bookmarks and lists decode as the generated types")
    func envelopes() throws {
        let pod = object("web", revision: 7)
        let event = try PodEvent(serializedBytes: ProtoBytes.event(type: EventType.modified.rawValue, object: pod.bytes))
        #expect(event.type == .modified && event.object.metadata.name == "web" && event.object.metadata.resourceVersion == 7)
        let bookmark = try ServiceEvent(serializedBytes: ProtoBytes.bookmarkEvent(revision: 42))
        #expect(bookmark.type == .bookmark && bookmark.object.metadata.resourceVersion == 42 && bookmark.object.metadata.name.isEmpty)
        let list = try PodList(serializedBytes: ProtoBytes.list(items: [pod.bytes, object("db", revision: 8).bytes], revision: 9, continueToken: "t"))
        #expect(list.items.map(\.metadata.name) == ["web", "db"] && list.resourceVersion == 9 && list.continueToken == "t")
    }

    @Test("the ring keeps the newest events and knows from which revision it is complete")
    func ring() {
        var ring = EventRing(capacity: 3, startRevision: 10)
        for revision in 11...15 {
            ring.append(CacheEvent(revision: Int64(revision), key: "k", previous: nil, current: object("p", revision: Int64(revision))))
        }
        #expect(ring.count == 3 && ring.startRevision == 12)
        #expect(ring.events(after: 12)?.map(\.revision) == [13, 14, 15])
        #expect(ring.events(after: 14)?.map(\.revision) == [15])
        #expect(ring.events(after: 15)?.isEmpty == true)
        #expect(ring.events(after: 11) == nil)
    }

    @Test("the ring is bounded by bytes too: heavy events shorten the history; the newest is always kept")
    func ringBytes() {
        func event(_ revision: Int64, annotation: Int, previous: CachedObject? = nil) -> CacheEvent {
            var pod = Pod()
            pod.metadata.name = "p"
            pod.metadata.namespace = "default"
            pod.metadata.annotations = ["blob": String(repeating: "x", count: annotation)]
            let bytes = try! ProtoBytes.object(pod.serializedBytes(), withResourceVersion: revision)
            let current = CachedObject(
                key: Self.keys.key(namespace: "default", name: "p"), namespace: "default", name: "p",
                selectorFields: SelectorFields(labels: [:], fields: pod.selectableFieldValues), revision: revision, bytes: bytes)
            return CacheEvent(revision: revision, key: current.key, previous: previous, current: current)
        }
        let light = EventRing.weight(of: event(1, annotation: 10))
        let heavy = EventRing.weight(of: event(1, annotation: 10_000))
        #expect(heavy > 2 * 10_000 && heavy < 2 * 10_100 + 512, "an event weighs its object and one encoding")
        let update = event(2, annotation: 10_000, previous: event(1, annotation: 10_000).current)
        #expect(EventRing.weight(of: update) > 3 * 10_000, "and the version before it")

        var ring = EventRing(capacity: 100, byteLimit: 5 * heavy, startRevision: 0)
        for revision in Int64(1)...10 { ring.append(event(revision, annotation: 10)) }
        #expect(ring.count == 10 && ring.bytes == 10 * light && ring.startRevision == 0)
        for revision in Int64(11)...20 { ring.append(event(revision, annotation: 10_000)) }
        #expect(ring.bytes <= 5 * heavy && ring.count == 5)
        #expect(ring.startRevision == 15 && ring.events(after: 15)?.map(\.revision) == [16, 17, 18, 19, 20])
        #expect(ring.events(after: 14) == nil)
        // Light events after heavy ones: the heavy ones leave as the bytes require, in order.
        for revision in Int64(21)...22 { ring.append(event(revision, annotation: 10)) }
        #expect(ring.startRevision == 16 && ring.events(after: 16)?.map(\.revision) == [17, 18, 19, 20, 21, 22])
        #expect(ring.bytes == 4 * heavy + 2 * light)

        // An event heavier than the whole limit is kept alone; the ring is then complete only
        // after the event before it.
        var tiny = EventRing(capacity: 100, byteLimit: light, startRevision: 0)
        tiny.append(event(1, annotation: 10))
        tiny.append(event(2, annotation: 10_000))
        #expect(tiny.count == 1 && tiny.startRevision == 1 && tiny.events(after: 1)?.map(\.revision) == [2])
        tiny.append(event(3, annotation: 10))
        #expect(tiny.count == 1 && tiny.startRevision == 2 && tiny.bytes == light)
    }

    @Test("state: puts, deletes, ordered pages by prefix and filter")
    func state() {
        var state = WatchCacheState(
            objects: [object("b", revision: 1), object("a", namespace: "prod", revision: 2)], revision: 2, ringCapacity: 10)
        #expect(Array(state.keys) == ["/registry/pods/default/b", "/registry/pods/prod/a"])
        let created = state.put(object("a", labels: ["x": "y"], revision: 3))
        #expect(created.naturalType == .added && created.previous == nil)
        let updated = state.put(object("a", labels: ["x": "z"], revision: 4))
        #expect(updated.naturalType == .modified && updated.previous?.revision == 3)
        let deleted = state.delete("/registry/pods/default/b", revision: 5)
        #expect(deleted?.naturalType == .deleted && deleted?.deleted?.revision == 5)
        #expect(state.delete("/registry/pods/default/nope", revision: 6) == nil && state.revision == 6)
        #expect(Array(state.keys) == ["/registry/pods/default/a", "/registry/pods/prod/a"])
        let all = state.page(prefix: "/registry/pods/", after: nil, filter: ObjectFilter(), limit: 1, byteBudget: 1 << 20)
        #expect(all.items.map(\.key) == ["/registry/pods/default/a"] && all.more)
        let next = state.page(prefix: "/registry/pods/", after: all.items[0].key, filter: ObjectFilter(), limit: 1, byteBudget: 1 << 20)
        #expect(next.items.map(\.key) == ["/registry/pods/prod/a"] && !next.more)
        let filter = ObjectFilter(labels: LabelSelector(matching: ["x": "z"]))
        #expect(state.page(prefix: "/registry/pods/", after: nil, filter: filter, limit: 5, byteBudget: 1).items.count == 1)
        #expect(state.page(prefix: "/registry/pods/prod/", after: nil, filter: ObjectFilter(), limit: 5, byteBudget: 1 << 20).items.count == 1)
    }

    @Test("a page at an earlier revision is that revision's page, from today's objects and the ring")
    func pagesAtEarlierRevisions() {
        var history = RandomWrites(seed: 11, names: 8, labelValues: 2, ringCapacity: 40, make: object)
        let allKeys = RandomWrites.namespaces.flatMap { namespace in history.names.map { Self.keys.key(namespace: namespace, name: $0) } }
        for revision in Int64(1)...400 {
            history.write()
            for _ in 0..<4 {
                let at = Int64(history.random.next() % UInt64(revision + 1))
                let prefix = history.random.next() % 2 == 0 ? Self.keys.prefix(namespace: "") : Self.keys.prefix(namespace: "b")
                let after = allKeys[Int(history.random.next() % UInt64(allKeys.count))]
                let filter = history.random.next() % 2 == 0 ? ObjectFilter() : ObjectFilter(labels: LabelSelector(matching: ["x": "1"]))
                let limit = 1 + Int(history.random.next() % 4)
                let budget = history.random.next() % 4 == 0 ? 1 : 1 << 20
                let page = history.state.page(atRevision: at, prefix: prefix, after: after, filter: filter, limit: limit, byteBudget: budget)
                guard at >= history.state.ring.startRevision else {
                    #expect(page == nil, "revision \(at) is older than the ring")
                    continue
                }
                // The reference: that revision's objects after `after` under `prefix`, in store order.
                let then = history.snapshots[Int(at)].values
                    .filter { $0.key.hasPrefix(prefix) && OrderedKeys.precedes(after, $0.key) && filter.matches($0) }
                    .sorted { OrderedKeys.precedes($0.key, $1.key) }
                var expected: [CachedObject] = []
                var bytes = 0
                for object in then {
                    let size = ProtoBytes.listItemSize(object.bytes)
                    if expected.count == limit || (!expected.isEmpty && bytes + size > budget) { break }
                    expected.append(object)
                    bytes += size
                }
                let comment: Comment = "at \(at) of \(revision), prefix \(prefix), after \(after), limit \(limit), budget \(budget)"
                #expect(page?.items.map(\.key) == expected.map(\.key), comment)
                #expect(page?.items.map(\.revision) == expected.map(\.revision), comment)
                #expect(page?.more == (then.count > expected.count), comment)
            }
        }
    }

    @Test("a scan in steps of a few keys, with writes between the steps, shows the revision it started at")
    func steppedScans() {
        var history = RandomWrites(seed: 23, names: 12, labelValues: 3, ringCapacity: 10_000, make: object)
        for _ in 0..<60 { history.write() }
        for trial in 0..<300 {
            // From now (as a first page) or from an earlier revision (as a continue token).
            let at = history.random.next() % 2 == 0 ? history.state.revision : Int64(history.random.next() % UInt64(history.state.revision + 1))
            let prefix = history.random.next() % 2 == 0 ? Self.keys.prefix(namespace: "") : Self.keys.prefix(namespace: "b")
            let filter = history.random.next() % 2 == 0 ? ObjectFilter() : ObjectFilter(labels: LabelSelector(matching: ["x": "1"]))
            let limit = 1 + Int(history.random.next() % 8)
            let budget = 1 + Int(history.random.next() % 3)
            var page = PageBuilder(filter: filter, limit: limit, byteBudget: 1 << 20)
            var after: String? = nil
            var steps = 0
            var stop: WatchCacheState.ScanStop?
            while true {
                stop = history.state.scan(atRevision: at, prefix: prefix, after: after, into: &page, budget: budget)
                steps += 1
                guard case .paused(let key) = stop else { break }
                after = key
                for _ in 0..<Int(history.random.next() % 3) { history.write() }
            }
            let then = history.snapshots[Int(at)].values
                .filter { $0.key.hasPrefix(prefix) && filter.matches($0) }
                .sorted { OrderedKeys.precedes($0.key, $1.key) }
            let comment: Comment = "trial \(trial): at \(at), prefix \(prefix), limit \(limit), budget \(budget), \(steps) steps"
            #expect(page.items.map(\.key) == then.prefix(limit).map(\.key), comment)
            #expect(page.items.map(\.revision) == then.prefix(limit).map(\.revision), comment)
            #expect(stop == (then.count > limit ? .full : .end), comment)
        }

        // A ring that drops the changes since the scan's revision cannot go on.
        var small = WatchCacheState(objects: (0..<20).map { object("p\($0)", revision: 1) }, revision: 1, ringCapacity: 4)
        var page = PageBuilder(filter: ObjectFilter(), limit: 100, byteBudget: 1 << 20)
        guard case .paused(let key) = small.scan(atRevision: 1, prefix: Self.keys.prefix(namespace: ""), after: nil, into: &page, budget: 5)
        else {
            Issue.record("a scan of 20 keys in steps of 5 pauses")
            return
        }
        for revision in Int64(2)...7 { _ = small.put(object("q\(revision)", revision: revision)) }
        #expect(small.scan(atRevision: 1, prefix: Self.keys.prefix(namespace: ""), after: key, into: &page, budget: 5) == nil)
    }

    @Test("an event is delivered per filter: ADDED on entering, DELETED on leaving, nothing outside; bytes shared")
    func delivery() throws {
        let before = object("p", labels: ["app": "db"], revision: 1)
        let after = object("p", labels: ["app": "web"], revision: 2)
        let event = CacheEvent(revision: 2, key: before.key, previous: before, current: after)
        let web = ObjectFilter(labels: LabelSelector(matching: ["app": "web"]))
        let db = ObjectFilter(labels: LabelSelector(matching: ["app": "db"]))
        #expect(try PodEvent(serializedBytes: #require(event.delivery(for: web))).type == .added)
        #expect(try PodEvent(serializedBytes: #require(event.delivery(for: db))).type == .deleted)
        #expect(try PodEvent(serializedBytes: #require(event.delivery(for: ObjectFilter()))).type == .modified)
        #expect(event.delivery(for: ObjectFilter(namespace: "prod")) == nil)
        let first = try #require(event.delivery(for: ObjectFilter()))
        let second = try #require(event.delivery(for: ObjectFilter()))
        first.withUnsafeBufferPointer { a in second.withUnsafeBufferPointer { b in #expect(a.baseAddress == b.baseAddress) } }
    }

    @Test("a watcher queue: initial events are free, live ones bounded; overflow ends after what was queued")
    func queue() async throws {
        let queue = WatcherQueue(limit: 2, initial: [.event([1]), .event([2]), .event([3])], lastRevision: 5)
        #expect(queue.push([4], revision: 6))
        #expect(queue.push([5], revision: 7))
        #expect(!queue.push([6], revision: 8))
        #expect(!queue.push([7], revision: 9))
        var taken: [[UInt8]] = []
        do {
            while let bytes = try await queue.next() { taken.append(bytes) }
            Issue.record("expected the queue to end with an error")
        } catch let error as RegistryError {
            #expect(error == .watcherTooSlow(limit: 2))
        }
        #expect(taken == [[1], [2], [3], [4], [5]])
        #expect(queue.lastRevision == 7)
        let ending = WatcherQueue(limit: 2, initial: [], lastRevision: 0)
        ending.push([1], revision: 1)
        ending.end(nil)
        #expect(try await ending.next() == [1])
        #expect(try await ending.next() == nil)
    }

    @Test("continue tokens round-trip and are bound to their prefix")
    func continueTokens() throws {
        let token = ContinueToken(revision: 42, lastKey: "/registry/pods/default/web")
        let parsed = try ContinueToken(parsing: token.encoded, prefix: "/registry/pods/")
        #expect(parsed == token)
        #expect(throws: RegistryError.self) { try ContinueToken(parsing: token.encoded, prefix: "/registry/services/") }
        for bad in ["", "42", "x.00", "42.0g", "42.abc", "-1.00"] {
            #expect(throws: RegistryError.self) { try ContinueToken(parsing: bad, prefix: "/registry/") }
        }
    }

    @Test("object keys")
    func objectKeys() {
        #expect(Self.keys.key(namespace: "ns", name: "a") == "/registry/pods/ns/a")
        #expect(Self.keys.prefix(namespace: "") == "/registry/pods/" && Self.keys.prefix(namespace: "ns") == "/registry/pods/ns/")
        #expect(Self.keys.parse("/registry/pods/ns/a")! == ("ns", "a"))
        #expect(Self.keys.parse("/registry/pods/a") == nil)
        let minions = ObjectKeys(resource: "minions", namespaced: false)
        #expect(minions.key(namespace: "", name: "m1") == "/registry/minions/m1")
        #expect(minions.parse("/registry/minions/m1")! == ("", "m1"))
        #expect(minions.prefix(namespace: "ignored") == "/registry/minions/")
        for bad in ["/registry/pods/ns/", "/registry/pods//a", "/registry/pods/ns/a/b", "/registry/podsx/ns/a", "/registry/pods/"] {
            #expect(Self.keys.parse(bad) == nil, "\(bad)")
        }
        for bad in ["/registry/minions/", "/registry/minions/a/b", "/registry/pods/m1"] {
            #expect(minions.parse(bad) == nil, "\(bad)")
        }
        #expect(Self.keys.parse("/registry/pods/ns/é-x")! == ("ns", "é-x"))
    }

    @Test("ObjectKeys.parse, which scans bytes in place, answers as a plain split of the key")
    func keyNames() {
        let minions = ObjectKeys(resource: "minions", namespaced: false)
        let samples = [
            "/registry/pods/ns/a", "/registry/pods/a", "/registry/pods/ns/", "/registry/pods//a", "/registry/pods/ns/a/b",
            "/registry/podsx/ns/a", "/registry/pods/", "/registry/pods", "", "/registry/pods/ns/é-x", "/registry/pods/é/x",
            "/registry/minions/m1", "/registry/minions/", "/registry/minions/a/b", "/registry/minions/ü", "/registry/pods/m1",
            "/registry/pods/creates/c-15-123456", "/registry/pods/a/\u{0}", "/registry/pod/ns/a",
        ]
        for keys in [Self.keys, minions] {
            for key in samples {
                let (expected, found) = (Self.plainSplit(keys, key), keys.parse(key))
                #expect(expected?.namespace == found?.namespace && expected?.name == found?.name, "\(keys.resource) \(key)")
            }
        }
        #expect(Self.keys.parse("/registry/pods/ns/a")! == ("ns", "a"))
    }

    /// The reference for `keyNames`: the namespace and name of `key` by splitting substrings.
    private static func plainSplit(_ keys: ObjectKeys, _ key: String) -> (namespace: String, name: String)? {
        guard key.hasPrefix(keys.root) else { return nil }
        let rest = Substring(key.utf8.dropFirst(keys.root.utf8.count))
        let slash = UInt8(ascii: "/")
        if !keys.namespaced { return rest.isEmpty || rest.utf8.contains(slash) ? nil : ("", String(rest)) }
        guard let separator = rest.utf8.firstIndex(of: slash) else { return nil }
        let namespace = rest[..<separator]
        let name = rest[rest.utf8.index(after: separator)...]
        guard !namespace.isEmpty, !name.isEmpty, !name.utf8.contains(slash) else { return nil }
        return (String(namespace), String(name))
    }

    @Test("generated names from the pool: the prefix and five allowed characters, spread evenly, across refills")
    func generatedNames() {
        var seen: Set<String> = []
        var counts: [Character: Int] = [:]
        // 2,000 names take 10,000 words: the 512-word pool refills about 20 times.
        for _ in 0..<2_000 {
            let name = ServerFields.name(prefix: "web-")
            #expect(name.hasPrefix("web-") && name.count == 9 && DNS1123.isLabel(name), "\(name)")
            for character in name.dropFirst(4) { counts[character, default: 0] += 1 }
            seen.insert(name)
        }
        #expect(seen.count > 1_990)
        let alphabet = Set("bcdfghjklmnpqrstvwxz2456789")
        #expect(Set(counts.keys) == alphabet)
        // Each of the 27 characters is expected 370 times in 10,000; a bias this far off is not chance.
        #expect(counts.values.allSatisfy { (250...500).contains($0) }, "\(counts)")
    }

    @Test("uids are distinct version-4 UUIDs in canonical form, across refills of the random pool")
    func uids() {
        let hex = Set("0123456789abcdef")
        var seen: Set<String> = []
        for _ in 0..<1_000 {
            let uid = ServerFields.uuid()
            let groups = uid.split(separator: "-", omittingEmptySubsequences: false)
            #expect(groups.map(\.count) == [8, 4, 4, 4, 12], "\(uid)")
            #expect(uid.allSatisfy { $0 == "-" || hex.contains($0) }, "\(uid)")
            #expect(groups.count == 5 && groups[2].first == "4", "version: \(uid)")
            #expect(groups.count == 5 && "89ab".contains(groups[3].first ?? "x"), "variant: \(uid)")
            seen.insert(uid)
        }
        #expect(seen.count == 1_000)
    }
}

/// A watch cache state written at random (puts and deletes of a few keys in three namespaces,
/// one write per revision), with what it held at each revision.
struct RandomWrites {
    static let namespaces = ["a", "b", "c"]
    var random: SplitMix
    let names: [String]
    let labelValues: UInt64
    let make: (_ name: String, _ namespace: String, _ labels: [String: String], _ revision: Int64) -> CachedObject
    var state: WatchCacheState
    private(set) var now: [String: CachedObject] = [:]
    /// What the state held at each revision (index = revision; 0: nothing).
    private(set) var snapshots: [[String: CachedObject]] = [[:]]

    init(
        seed: UInt64, names: Int, labelValues: UInt64, ringCapacity: Int,
        make: @escaping (_ name: String, _ namespace: String, _ labels: [String: String], _ revision: Int64) -> CachedObject
    ) {
        random = SplitMix(state: seed)
        self.names = (0..<names).map { "p\($0)" }
        self.labelValues = labelValues
        self.make = make
        state = WatchCacheState(objects: [], revision: 0, ringCapacity: ringCapacity)
    }

    /// One write at the next revision: a delete of a present key (a third of the time) or a put
    /// with a random label `x`.
    mutating func write() {
        let revision = Int64(snapshots.count)
        let namespace = Self.namespaces[Int(random.next() % 3)]
        let name = names[Int(random.next() % UInt64(names.count))]
        let key = CacheUnitTests.keys.key(namespace: namespace, name: name)
        if now[key] != nil, random.next() % 3 == 0 {
            _ = state.delete(key, revision: revision)
            now[key] = nil
        } else {
            let written = make(name, namespace, ["x": "\(random.next() % labelValues)"], revision)
            _ = state.put(written)
            now[key] = written
        }
        snapshots.append(now)
    }
}
