import CapstanAPI
import CapstanAPIServer
import CapstanRPC
import CapstanTestSupport
import Testing

/// The caches load the store page by page when the API server starts.
@Suite("Start-up listing", .timeLimit(.minutes(2)))
struct StartupListingTests {
    @Test("a restarted server serves every object of a kind that spans several of the store's listing pages")
    func manyPagesAtStart() async throws {
        // The feed reads 1,000 keys per page: 2,345 pods take three pages. With 100 revisions of
        // history the restarted server lists the store near its head rather than replaying it all.
        let count = 2_345
        try await withTemporaryDirectory { directory in
            try await withAPIServer(directory: directory) { api, _ in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for worker in 0..<8 {
                        group.addTask {
                            for index in stride(from: worker, to: count, by: 8) {
                                _ = try await api.pods.create(Make.pod("p\(index)", labels: ["half": "\(index % 2)"]))
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                _ = try await api.services.create(Make.service("web", port: 80))
            }
            try await withAPIServer(directory: directory, options: testOptions { $0.historyRevisions = 100 }) { api, _ in
                var names: Set<String> = []
                var token = ""
                repeat {
                    let page = try await api.pods.list(Make.list(limit: 700, continueToken: token))
                    for pod in page.items { names.insert(pod.metadata.name) }
                    token = page.continueToken
                } while !token.isEmpty
                let missing = Set((0..<count).map { "p\($0)" }).subtracting(names)
                #expect(names.count == count && missing.isEmpty, "missing \(missing.count) pods, e.g. \(missing.prefix(3))")
                let odd = try await api.pods.list(Make.list(labels: "half=1", limit: Int64(count)))
                #expect(odd.items.count == count / 2)
                let last = try await api.pods.get(Make.get("p\(count - 1)"))
                #expect(last.metadata.labels == ["half": "\((count - 1) % 2)"])
                #expect(last.metadata.resourceVersion > 0)
                #expect(try await api.services.list(Make.list()).items.map(\.metadata.name) == ["web"])
            }
        }
    }
}
