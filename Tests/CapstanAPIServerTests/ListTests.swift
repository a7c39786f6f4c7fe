import CapstanAPI
@testable import CapstanAPIServer
import CapstanRPC
import CapstanStore
import CapstanWire
import Foundation
import Testing

@Suite("List")
struct ListTests {
    /// Creates pods across namespaces, some bound and running.
    func populate(_ api: APIClients) async throws {
        _ = try await api.minions.create(Make.minion("m1"))
        for index in 0..<6 {
            let namespace = index % 2 == 0 ? "prod" : "dev"
            let tier = index < 3 ? "front" : "back"
            _ = try await api.pods.create(Make.pod("p\(index)", namespace: namespace, labels: ["app": "web", "tier": tier]))
        }
        var binding = Binding()
        binding.namespace = "prod"
        binding.podName = "p0"
        binding.host = "m1"
        _ = try await api.bindings.create(binding)
        var running = try await api.pods.get(Make.get("p1", namespace: "dev"))
        running.status.phase = .running
        _ = try await api.pods.updateStatus(running)
    }

    func names(_ list: PodList) -> [String] { list.items.map { "\($0.metadata.namespace)/\($0.metadata.name)" } }

    @Test("namespace, label and field selectors")
    func selectors() async throws {
        try await withAPIServer { api, _ in
            try await populate(api)
            #expect(try await api.pods.list(Make.list()).items.count == 6)
            #expect(names(try await api.pods.list(Make.list(namespace: "prod"))) == ["prod/p0", "prod/p2", "prod/p4"])
            #expect(names(try await api.pods.list(Make.list(labels: "tier=back"))) == ["dev/p3", "dev/p5", "prod/p4"])
            #expect(names(try await api.pods.list(Make.list(labels: "tier notin (back),app"))) == ["dev/p1", "prod/p0", "prod/p2"])
            #expect(names(try await api.pods.list(Make.list(fields: "spec.host=m1"))) == ["prod/p0"])
            #expect(try await api.pods.list(Make.list(fields: "spec.host=")).items.count == 5)
            #expect(names(try await api.pods.list(Make.list(fields: "status.phase=Running"))) == ["dev/p1"])
            #expect(names(try await api.pods.list(Make.list(fields: "status.phase=POD_PHASE_RUNNING"))) == ["dev/p1"])
            #expect(try await api.pods.list(Make.list(fields: "status.phase!=running")).items.count == 5)
            #expect(names(try await api.pods.list(Make.list(namespace: "dev", labels: "tier=front", fields: "metadata.name!=p3")))
                == ["dev/p1"])
            #expect(names(try await api.pods.list(Make.list(fields: "metadata.namespace=dev,metadata.name=p5"))) == ["dev/p5"])
        }
    }

    @Test("bad selector syntax is INVALID_ARGUMENT with position and token")
    func badSelectors() async throws {
        try await withAPIServer { api, _ in
            let label = await rpcError { _ = try await api.pods.list(Make.list(labels: "app in (web")) }
            #expect(label.code == .invalidArgument)
            #expect(label.message.contains("position 11") && label.message.contains("end of input"))
            let violations = try fieldViolations(label)
            #expect(violations.keys.contains("label_selector"))
            let field = await rpcError { _ = try await api.pods.list(Make.list(fields: "spec.nodeName=x")) }
            #expect(field.code == .invalidArgument)
            #expect(field.message.contains("position 0") && field.message.contains("\"spec.nodeName\""))
            let minionField = await rpcError { _ = try await api.minions.list(Make.list(fields: "spec.host=m1")) }
            #expect(minionField.code == .invalidArgument)
            let watch = await rpcError {
                for try await _ in try await api.pods.watch(Make.watch(labels: "a b")) {}
            }
            #expect(watch.code == .invalidArgument && watch.message.contains("token \"b\""))
        }
    }

    @Test("paging: limit, continue tokens, one consistent revision across pages")
    func paging() async throws {
        try await withAPIServer { api, _ in
            for index in 0..<25 { _ = try await api.pods.create(Make.pod(String(format: "p%02d", index), labels: ["odd": "\(index % 2)"])) }
            let first = try await api.pods.list(Make.list(limit: 10))
            #expect(first.items.count == 10 && !first.continueToken.isEmpty)
            // Changes after the first page must not show up in later pages.
            _ = try await api.pods.create(Make.pod("p99"))
            _ = try await api.pods.delete(Make.delete("p20"))
            var all = first.items
            var token = first.continueToken
            while !token.isEmpty {
                let page = try await api.pods.list(Make.list(limit: 10, continueToken: token))
                #expect(page.resourceVersion == first.resourceVersion)
                #expect(page.items.count <= 10)
                all += page.items
                token = page.continueToken
            }
            #expect(all.map(\.metadata.name) == (0..<25).map { String(format: "p%02d", $0) })
            #expect(all.allSatisfy { $0.metadata.resourceVersion <= first.resourceVersion })

            let odd = try await api.pods.list(Make.list(labels: "odd=1", limit: 5))
            #expect(odd.items.count == 5 && !odd.continueToken.isEmpty)
            let rest = try await api.pods.list(Make.list(labels: "odd=1", limit: 100, continueToken: odd.continueToken))
            #expect(rest.continueToken.isEmpty)
            #expect((odd.items + rest.items).map(\.metadata.name) == stride(from: 1, to: 25, by: 2).map { String(format: "p%02d", $0) })
            // An exact final page carries no token.
            let exact = try await api.pods.list(Make.list(labels: "odd=1", limit: 12))
            #expect(exact.items.count == 12 && exact.continueToken.isEmpty)
        }
    }

    @Test("limit 0 means the default page size; a page stays under the byte budget")
    func pageSizes() async throws {
        let options = testOptions { $0.defaultPageSize = 4; $0.maxPageBytes = 600 }
        try await withAPIServer(options: options) { api, _ in
            for index in 0..<9 { _ = try await api.pods.create(Make.pod("p\(index)")) }
            let first = try await api.pods.list(Make.list())
            #expect(first.items.count < 9 && !first.continueToken.isEmpty)
            #expect(first.serializedBytes().count <= 600 + 200)
            var count = first.items.count
            var token = first.continueToken
            while !token.isEmpty {
                let page = try await api.pods.list(Make.list(continueToken: token))
                #expect(!page.items.isEmpty && page.items.count <= 4)
                count += page.items.count
                token = page.continueToken
            }
            #expect(count == 9)
        }
    }

    @Test("bad continue tokens and negative limits are INVALID_ARGUMENT; an expired token is OUT_OF_RANGE")
    func badTokens() async throws {
        var storeOptions = SQLiteStoreOptions()
        storeOptions.retention = nil
        // A ring of one event: two pod changes after the page leave the cache unable to restore it.
        try await withAPIServer(options: testOptions { $0.eventRingCapacity = 1 }, storeOptions: storeOptions) { api, store in
            let garbage = await rpcError { _ = try await api.pods.list(Make.list(continueToken: "garbage")) }
            #expect(garbage.code == .invalidArgument)
            let negative = await rpcError { _ = try await api.pods.list(Make.list(limit: -1)) }
            #expect(negative.code == .invalidArgument)
            #expect(negative.message == "invalid pod request: limit: must not be negative", "no object to name")
            for index in 0..<4 { _ = try await api.pods.create(Make.pod("p\(index)", namespace: "prod")) }
            let page = try await api.pods.list(Make.list(namespace: "prod", limit: 2))
            let otherNamespace = await rpcError {
                _ = try await api.pods.list(Make.list(namespace: "dev", continueToken: page.continueToken))
            }
            #expect(otherNamespace.code == .invalidArgument)
            let otherKind = await rpcError { _ = try await api.services.list(Make.list(continueToken: page.continueToken)) }
            #expect(otherKind.code == .invalidArgument)
            // A token from a revision this store never reached (another store's, or this one's
            // before a restore) is OUT_OF_RANGE too: list again.
            let future = ContinueToken(revision: Int64(page.resourceVersion) + 1_000, lastKey: "/registry/pods/prod/p1").encoded
            let fromElsewhere = await rpcError { _ = try await api.pods.list(Make.list(namespace: "prod", continueToken: future)) }
            #expect(fromElsewhere.code == .outOfRange && fromElsewhere.message.contains("not from this store"), "\(fromElsewhere)")
            // Pods changed after the page, and the cache's ring no longer holds the first change.
            _ = try await api.pods.create(Make.pod("p8", namespace: "dev"))
            _ = try await api.pods.create(Make.pod("p9", namespace: "dev"))
            for index in 0..<4 { _ = try await api.minions.create(Make.minion("m\(index)")) }
            try await compactEverything(store)
            let expired = await rpcError { _ = try await api.pods.list(Make.list(namespace: "prod", continueToken: page.continueToken)) }
            #expect(expired.code == .outOfRange)
            #expect(expired.message == "resource version \(page.resourceVersion) is too old; list again")
        }
    }

    @Test("a later page read from the store with the largest limit is served in bounded chunks")
    func hugeLimitFromTheStore() async throws {
        var storeOptions = SQLiteStoreOptions()
        storeOptions.retention = nil
        // A ring of one event: the changes after the first page send later pages to the store.
        try await withAPIServer(options: testOptions { $0.eventRingCapacity = 1 }, storeOptions: storeOptions) { api, _ in
            for index in 0..<5 { _ = try await api.pods.create(Make.pod("p\(index)")) }
            let first = try await api.pods.list(Make.list(limit: 2))
            _ = try await api.pods.create(Make.pod("q1"))
            _ = try await api.pods.create(Make.pod("q2"))
            let rest = try await api.pods.list(Make.list(limit: .max, continueToken: first.continueToken))
            #expect(rest.items.map(\.metadata.name) == ["p2", "p3", "p4"] && rest.continueToken.isEmpty)
            #expect(rest.resourceVersion == first.resourceVersion)
        }
    }

    @Test("later pages show the first page's state from the cache, past changes and compaction")
    func laterPagesFromTheCache() async throws {
        var storeOptions = SQLiteStoreOptions()
        storeOptions.retention = nil
        try await withAPIServer(storeOptions: storeOptions) { api, store in
            for index in 0..<7 { _ = try await api.pods.create(Make.pod("p\(index)", labels: ["v": "1"])) }
            let first = try await api.pods.list(Make.list(limit: 3))
            // After the first page: other kinds move the revision on, pods change before and after
            // the page's last key, and compaction drops the page's revision from the store. Later
            // pages come from the cache (today's pods with the changes since undone from its ring).
            for index in 0..<3 { _ = try await api.minions.create(Make.minion("m\(index)")) }
            _ = try await api.pods.delete(Make.delete("p0"))
            _ = try await api.pods.delete(Make.delete("p5"))
            _ = try await api.pods.create(Make.pod("p3a"))
            var changed = try await api.pods.get(Make.get("p4"))
            changed.metadata.labels = ["v": "2"]
            _ = try await api.pods.update(changed)
            _ = try await api.pods.create(Make.pod("p9"))
            try await compactEverything(store)
            var all = first.items
            var token = first.continueToken
            while !token.isEmpty {
                let page = try await api.pods.list(Make.list(limit: 3, continueToken: token))
                #expect(page.resourceVersion == first.resourceVersion)
                all += page.items
                token = page.continueToken
            }
            #expect(all.map(\.metadata.name) == (0..<7).map { "p\($0)" })
            #expect(all.allSatisfy { $0.metadata.labels == ["v": "1"] && $0.metadata.resourceVersion <= first.resourceVersion })
            // A new listing sees today's pods.
            let now = try await api.pods.list(Make.list(limit: 100))
            #expect(now.items.map(\.metadata.name) == ["p1", "p2", "p3", "p3a", "p4", "p6", "p9"])
        }
    }
}

/// Compacts `store` up to its current revision.
func compactEverything(_ store: any Store) async throws {
    let head = try await store.currentRevision()
    try await store.compact(head)
}
