import CapstanAPI
import CapstanAPIServer
import CapstanRPC
import CapstanStore
import Testing

@Suite("Watch")
struct WatchTests {
    @Test("send_initial_events: ADDED for each object, a BOOKMARK at the snapshot, then changes")
    func initialEvents() async throws {
        try await withAPIServer { api, _ in
            for name in ["b", "a", "c"] { _ = try await api.pods.create(Make.pod(name)) }
            let snapshot = try await api.pods.list(Make.list())
            let watch = WatchReader(try await api.pods.watch(Make.watch(initial: true)))
            let initial = try await watch.next(4)
            #expect(initial.prefix(3).map(\.type) == [.added, .added, .added])
            #expect(initial.prefix(3).map(\.object) == snapshot.items)
            #expect(initial[3].type == .bookmark)
            #expect(initial[3].object.metadata.resourceVersion == snapshot.resourceVersion)
            #expect(initial[3].object.metadata.name.isEmpty && !initial[3].object.hasSpec)

            let created = try await api.pods.create(Make.pod("d"))
            var changed = created
            changed.metadata.labels = ["x": "y"]
            let updated = try await api.pods.update(changed)
            let deleted = try await api.pods.delete(Make.delete("d"))
            let events = try await watch.next(3)
            #expect(events.map(\.type) == [.added, .modified, .deleted])
            #expect(events[0].object == created)
            #expect(events[1].object == updated)
            #expect(events[2].object == deleted)
            #expect(deleted.metadata.labels == ["x": "y"] && deleted.metadata.resourceVersion > updated.metadata.resourceVersion)
        }
    }

    /// The combination API.md leaves open: N bounds how old the initial state may be (as
    /// Kubernetes' `resourceVersionMatch=NotOlderThan`); it is not a point to replay from.
    @Test("send_initial_events with resource_version N: the state at N or newer, not the changes after N")
    func initialEventsNotOlderThan() async throws {
        let options = testOptions { $0.eventRingCapacity = 4 }
        try await withAPIServer(options: options) { api, _ in
            let first = try await api.pods.create(Make.pod("a"))
            _ = try await api.pods.delete(Make.delete("a"))
            // More changes than the ring holds: a replay from N would be OUT_OF_RANGE.
            for index in 0..<6 { _ = try await api.pods.create(Make.pod("p\(index)")) }
            let snapshot = try await api.pods.list(Make.list())
            var request = Make.watch(from: first.metadata.resourceVersion)
            request.sendInitialEvents = true
            let watch = WatchReader(try await api.pods.watch(request))
            let initial = try await watch.next(snapshot.items.count + 1)
            #expect(initial.prefix(snapshot.items.count).map(\.type) == Array(repeating: .added, count: 6))
            #expect(initial.prefix(snapshot.items.count).map(\.object) == snapshot.items, "no DELETED for a")
            #expect(initial.last?.type == .bookmark)
            #expect(initial.last?.object.metadata.resourceVersion == snapshot.resourceVersion)
            let later = try await api.pods.create(Make.pod("z"))
            let seen = try await watch.next()?.seen
            #expect(seen == Seen(type: .added, name: "default/z", revision: later.metadata.resourceVersion))
        }
    }

    @Test("resource_version N: every change after N, in order, none lost or duplicated")
    func resume() async throws {
        try await withAPIServer { api, _ in
            let first = try await api.pods.create(Make.pod("a"))
            var expected: [Seen] = []
            for index in 0..<10 {
                let pod = try await api.pods.create(Make.pod("p\(index)"))
                expected.append(Seen(type: .added, name: "default/p\(index)", revision: pod.metadata.resourceVersion))
            }
            let gone = try await api.pods.delete(Make.delete("a"))
            expected.append(Seen(type: .deleted, name: "default/a", revision: gone.metadata.resourceVersion))
            let watch = WatchReader(try await api.pods.watch(Make.watch(from: first.metadata.resourceVersion)))
            #expect(try await watch.next(expected.count).map(\.seen) == expected)
            let later = try await api.pods.create(Make.pod("z"))
            #expect(try await watch.next()?.seen == Seen(type: .added, name: "default/z", revision: later.metadata.resourceVersion))
        }
    }

    @Test("a revision older than the retained history ends with OUT_OF_RANGE")
    func tooOld() async throws {
        let options = testOptions { $0.eventRingCapacity = 4 }
        try await withAPIServer(options: options) { api, _ in
            let first = try await api.pods.create(Make.pod("a"))
            for index in 0..<8 { _ = try await api.pods.create(Make.pod("p\(index)")) }
            let watch = WatchReader(try await api.pods.watch(Make.watch(from: first.metadata.resourceVersion)))
            let error = await rpcError { _ = try await watch.next() }
            #expect(error.code == .outOfRange)
            #expect(error.message == "resource version \(first.metadata.resourceVersion) is too old; list again")
        }
    }

    @Test("large objects shorten the retained history (the ring's byte bound) instead of filling memory")
    func historyBoundedByBytes() async throws {
        // Room for about five versions of a 20 KB pod (each weighed as before, after and encoded).
        let options = testOptions { $0.eventRingBytes = 5 * 62_000 }
        try await withAPIServer(options: options) { api, _ in
            var pod = Make.pod("big")
            pod.metadata.annotations = ["blob": String(repeating: "x", count: 20_000)]
            var versions = [try await api.pods.create(pod)]
            for index in 0..<9 {
                var changed = versions.last!
                changed.metadata.labels = ["n": "\(index)"]
                versions.append(try await api.pods.update(changed))
            }
            let first = versions[0].metadata.resourceVersion
            let old = WatchReader(try await api.pods.watch(Make.watch(from: first)))
            let error = await rpcError { _ = try await old.next() }
            #expect(error.code == .outOfRange, "\(error)")
            // The last few versions are still there to resume from.
            let recent = WatchReader(try await api.pods.watch(Make.watch(from: versions[6].metadata.resourceVersion)))
            #expect(try await recent.next(3).map(\.object) == Array(versions[7...]))
        }
    }

    @Test("a revision the store never reached is OUT_OF_RANGE at once; the current one is watched from")
    func tooNew() async throws {
        try await withAPIServer { api, store in
            let created = try await api.pods.create(Make.pod("a"))
            let current = try await store.currentRevision()
            for initial in [false, true] {
                var request = Make.watch(from: UInt64(current) + 1_000)
                request.sendInitialEvents = initial
                let watch = WatchReader(try await api.pods.watch(request))
                let error = await rpcError { _ = try await watch.next() }
                #expect(error.code == .outOfRange)
                let expected = "resource version \(current + 1_000) is newer than the store's revision \(current)"
                #expect(error.message.hasPrefix(expected))
            }
            // Past what a revision can be: the message names the version as asked, not clamped.
            let huge = await rpcError { _ = try await WatchReader(try await api.pods.watch(Make.watch(from: UInt64.max))).next() }
            #expect(huge.code == .outOfRange)
            #expect(huge.message.hasPrefix("resource version 18446744073709551615 is newer"), "\(huge)")
            let watch = WatchReader(try await api.pods.watch(Make.watch(from: created.metadata.resourceVersion)))
            let later = try await api.pods.create(Make.pod("b"))
            let seen = try await watch.next()?.seen
            #expect(seen == Seen(type: .added, name: "default/b", revision: later.metadata.resourceVersion))
        }
    }

    @Test("selectors: objects entering the selection are ADDED, leaving it DELETED with the state they left (as in Kubernetes) at the change's revision")
    func selectorTransitions() async throws {
        try await withAPIServer { api, _ in
            // From the minion's revision, not "now": a watcher the server registers only after the
            // pod's create would otherwise miss it.
            let start = try await api.minions.create(Make.minion("m1")).metadata.resourceVersion
            let web = WatchReader(try await api.pods.watch(Make.watch(labels: "app=web", from: start)))
            let unscheduled = WatchReader(try await api.pods.watch(Make.watch(fields: "spec.host=", from: start)))
            let prod = WatchReader(try await api.pods.watch(Make.watch(namespace: "prod", from: start)))
            let pod = try await api.pods.create(Make.pod("p", labels: ["app": "db"]))
            var relabeled = pod
            relabeled.metadata.labels = ["app": "web"]
            let toWeb = try await api.pods.update(relabeled)
            var binding = Binding()
            binding.podName = "p"
            binding.host = "m1"
            let bound = try await api.bindings.create(binding)
            relabeled = bound
            relabeled.metadata.labels = ["app": "db"]
            let fromWeb = try await api.pods.update(relabeled)
            _ = try await api.pods.create(Make.pod("q", namespace: "prod"))
            let webEvents = try await web.next(3)
            #expect(webEvents.map(\.seen) == [
                Seen(type: .added, name: "default/p", revision: toWeb.metadata.resourceVersion),
                Seen(type: .modified, name: "default/p", revision: bound.metadata.resourceVersion),
                Seen(type: .deleted, name: "default/p", revision: fromWeb.metadata.resourceVersion),
            ])
            // The state the watcher last saw (still app=web), at the relabel's revision.
            var left = bound
            left.metadata.resourceVersion = fromWeb.metadata.resourceVersion
            #expect(webEvents[2].object == left)
            let unscheduledEvents = try await unscheduled.next(4)
            #expect(unscheduledEvents.map(\.seen) == [
                Seen(type: .added, name: "default/p", revision: pod.metadata.resourceVersion),
                Seen(type: .modified, name: "default/p", revision: toWeb.metadata.resourceVersion),
                Seen(type: .deleted, name: "default/p", revision: bound.metadata.resourceVersion),
                Seen(type: .added, name: "prod/q", revision: fromWeb.metadata.resourceVersion + 1),
            ])
            #expect(unscheduledEvents[2].object.spec.host == "")
            #expect(unscheduledEvents[2].object.metadata.labels == ["app": "web"])
            #expect(try await prod.next()?.seen == Seen(type: .added, name: "prod/q", revision: fromWeb.metadata.resourceVersion + 1))
        }
    }

    @Test("periodic bookmarks only for watchers that allow them")
    func bookmarks() async throws {
        let options = testOptions { $0.bookmarkInterval = .milliseconds(20) }
        try await withAPIServer(options: options) { api, _ in
            // With the initial state, each watcher's first event (the BOOKMARK closing the empty
            // snapshot) proves the server registered it. Watching from "now" instead, a watcher
            // registered late could start at the minion's revision, after its only bookmark.
            let with = WatchReader(try await api.pods.watch(Make.watch(initial: true, bookmarks: true)))
            let without = WatchReader(try await api.pods.watch(Make.watch(initial: true)))
            #expect(try await with.next()?.type == .bookmark)
            #expect(try await without.next()?.type == .bookmark)
            let minion = try await api.minions.create(Make.minion("m1"))
            while true {
                let event = try #require(try await with.next())
                #expect(event.type == .bookmark)
                if event.object.metadata.resourceVersion >= minion.metadata.resourceVersion { break }
            }
            let pod = try await api.pods.create(Make.pod("p"))
            #expect(try await without.next()?.seen == Seen(type: .added, name: "default/p", revision: pod.metadata.resourceVersion))
        }
    }

    @Test("a watcher from \"now\" is told the revision by the next bookmark, even one already bookmarked")
    func bookmarkFromNow() async throws {
        let options = testOptions { $0.bookmarkInterval = .milliseconds(20) }
        try await withAPIServer(options: options) { api, _ in
            let revision = try await api.minions.create(Make.minion("m1")).metadata.resourceVersion
            let first = WatchReader(try await api.pods.watch(Make.watch(bookmarks: true)))
            while true {
                let event = try #require(try await first.next())
                #expect(event.type == .bookmark)
                if event.object.metadata.resourceVersion >= revision { break }
            }
            // The revision had its bookmark, and nothing changed since: a new watcher from "now"
            // is still told it.
            let second = WatchReader(try await api.pods.watch(Make.watch(bookmarks: true)))
            let told = try #require(try await second.next())
            #expect(told.type == .bookmark && told.object.metadata.resourceVersion == revision)
            // Neither hears of the revision twice: the next event of each is the next change.
            let pod = try await api.pods.create(Make.pod("p"))
            let added = Seen(type: .added, name: "default/p", revision: pod.metadata.resourceVersion)
            #expect(try await first.next()?.seen == added)
            #expect(try await second.next()?.seen == added)
        }
    }

    @Test("a watcher that falls too far behind ends with RESOURCE_EXHAUSTED and resumes without loss")
    func slowWatcher() async throws {
        let options = testOptions { $0.watcherQueueLimit = 5 }
        try await withAPIServer(options: options) { api, _ in
            let call = try await api.pods.watch(Make.watch(initial: true))
            var expected: [Seen] = []
            for index in 0..<80 {
                let pod = try await api.pods.create(Make.pod("p\(index)"))
                expected.append(Seen(type: .added, name: "default/p\(index)", revision: pod.metadata.resourceVersion))
            }
            let reader = WatchReader(call)
            var seen: [Seen] = []
            var lastRevision: UInt64 = 0
            var endedWith: RPCError? = nil
            do {
                while let event = try await reader.next() {
                    lastRevision = event.object.metadata.resourceVersion
                    if event.type != .bookmark { seen.append(event.seen) }
                }
            } catch let error as RPCError {
                endedWith = error
            }
            #expect(endedWith?.code == .resourceExhausted)
            #expect(endedWith?.message.contains("5 events behind") == true)
            #expect(seen.count < expected.count)
            let resumed = WatchReader(try await api.pods.watch(Make.watch(from: lastRevision)))
            seen += try await resumed.next(expected.count - seen.count).map(\.seen)
            #expect(seen == expected)
        }
    }

    @Test("too many watches is RESOURCE_EXHAUSTED")
    func tooManyWatches() async throws {
        let options = testOptions { $0.maxWatchersPerKind = 2 }
        try await withAPIServer(options: options) { api, _ in
            let first = WatchReader(try await api.pods.watch(Make.watch(initial: true)))
            let second = WatchReader(try await api.pods.watch(Make.watch(initial: true)))
            #expect(try await first.next()?.type == .bookmark)
            #expect(try await second.next()?.type == .bookmark)
            let third = WatchReader(try await api.pods.watch(Make.watch(initial: true)))
            let error = await rpcError { _ = try await third.next() }
            #expect(error.code == .resourceExhausted)
            #expect(error.message == "too many watches of pods: this API server already serves 2; stop watches that are not needed, or retry later")
            _ = try await api.minions.watch(Make.watch())
        }
    }

    @Test("a watch past its deadline ends with DEADLINE_EXCEEDED")
    func deadline() async throws {
        try await withAPIServer { api, _ in
            // The deadline may pass before the watch is even open on a loaded machine: either way
            // the call ends with DEADLINE_EXCEEDED.
            let error = await rpcError {
                let watch = WatchReader(try await api.pods.watch(Make.watch(), options: CallOptions(timeout: .milliseconds(100))))
                _ = try await watch.next()
            }
            #expect(error.code == .deadlineExceeded)
        }
    }
}
