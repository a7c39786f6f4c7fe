import CapstanAPI
import CapstanAPIServerHost
import CapstanEtcdLauncher
import CapstanHTTP2
@testable import CapstanRPC
import Foundation
import CapstanTestSupport
import Testing

@Suite("Metrics of the server's state beside its calls", .timeLimit(.minutes(2)))
struct ServerStateMetricsTests {
    private static func minion(_ name: String) -> Minion {
        var minion = Minion()
        minion.metadata.name = name
        minion.spec.address = "10.0.0.1"
        minion.spec.kubeletPort = 10250
        return minion
    }

    @Test("a scrape shows the objects and watchers of each kind, the cache revision, the store's commits and files, and the process")
    func stateOfARealServer() async throws {
        try await withObservedServer(records: CapturedRecords()) { host, rpc in
            let port = try #require(host.metricsEndpoint?.port)
            let minions = Minions.Client(rpc)
            var lastRevision: Int64 = 0
            for name in ["m1", "m2", "m3"] {
                lastRevision = Int64(try await minions.create(Self.minion(name)).metadata.resourceVersion)
            }
            var request = WatchRequest()
            request.sendInitialEvents = true
            let watch = try await Pods.Client(rpc).watch(request)
            var events = watch.makeAsyncIterator()
            #expect(try await events.next()?.type == .bookmark)

            func scrape() throws -> Exposition {
                try Exposition(parsing: try httpExchange(port: port, "GET /metrics HTTP/1.1\r\n\r\n").body)
            }
            let text = try scrape()
            #expect(Set(text.types.keys) == Set(text.helps.keys))
            #expect(text.value("capstan_apiserver_objects", ["resource": "minions"]) == 3)
            #expect(text.value("capstan_apiserver_objects", ["resource": "pods"]) == 0)
            #expect(text.value("capstan_apiserver_watchers", ["resource": "pods"]) == 1)
            #expect(text.value("capstan_apiserver_watchers", ["resource": "minions"]) == 0)
            #expect(text.samples.filter { $0.name == "capstan_apiserver_objects" }.count == 5, "one sample per kind")
            #expect((text.value("capstan_apiserver_cache_revision", [:]) ?? 0) >= Double(lastRevision))
            #expect(text.value("capstan_apiserver_serving", [:]) == 1)
            #expect((text.value("capstan_rpc_server_connections", [:]) ?? 0) >= 1)
            #expect(text.value("capstan_build_info", ["version": CapstanVersion.current]) == 1)
            #expect(text.types["capstan_sqlite_commits_total"] == "counter")
            #expect((text.value("capstan_sqlite_commits_total", [:]) ?? 0) >= 1)
            #expect((text.value("capstan_sqlite_writes_total", [:]) ?? 0) >= 3)
            #expect((text.value("capstan_sqlite_commit_seconds_total", [:]) ?? 0) > 0)
            #expect((text.value("capstan_sqlite_file_bytes", ["file": "store.db"]) ?? 0) > 0)
            #expect(text.value("capstan_sqlite_failed_commits_total", [:]) == 0)
            #expect((text.value("process_open_fds", [:]) ?? 0) > 3)
            #expect((text.value("process_max_fds", [:]) ?? 0) >= (text.value("process_open_fds", [:]) ?? .infinity))
            #expect((text.value("process_resident_memory_bytes", [:]) ?? 0) > 1_048_576)
            #expect((text.value("process_threads", [:]) ?? 0) > 1)
            #expect((text.value("process_cpu_seconds_total", [:]) ?? 0) > 0)
            let start = try #require(text.value("process_start_time_seconds", [:]))
            let now = Date().timeIntervalSince1970
            #expect(start <= now + 1 && start > now - 24 * 3600, "started before now: \(start) against \(now)")

            // The Metrics RPC's text carries the same families.
            let snapshot = try await Metrics.Client(rpc).get(MetricsRequest())
            let viaRPC = try Exposition(parsing: snapshot.prometheusText)
            #expect(viaRPC.value("capstan_apiserver_objects", ["resource": "minions"]) == 3)

            // A stopped watch and a deleted minion show at the next scrape.
            watch.cancel()
            var delete = DeleteRequest()
            delete.name = "m2"
            _ = try await minions.delete(delete)
            func settled(_ text: Exposition) -> Bool {
                text.value("capstan_apiserver_watchers", ["resource": "pods"]) == 0
                    && text.value("capstan_apiserver_objects", ["resource": "minions"]) == 2
                    && (text.value("capstan_apiserver_cache_revision", [:]) ?? 0) > Double(lastRevision)
            }
            var later = try scrape()
            for _ in 0..<400 where !settled(later) {
                try await Task.sleep(for: .milliseconds(25))
                later = try scrape()
            }
            #expect(later.value("capstan_apiserver_watchers", ["resource": "pods"]) == 0)
            #expect(later.value("capstan_apiserver_objects", ["resource": "minions"]) == 2)
            #expect((later.value("capstan_apiserver_cache_revision", [:]) ?? 0) > Double(lastRevision))
        }
    }

    @Test("on etcd: the client's retries and watch resumes instead of SQLite's commits")
    func etcdFamilies() async throws {
        try #require(EtcdCluster.isAvailable, "etcd is not installed: run `make deps` (Debian package etcd-server)")
        try await withEtcdCluster(members: 1) { cluster in
            let host = try await APIServerHost.start(
                store: .etcd([cluster.members[0].clientAddress]),
                observability: ObservabilityOptions(metrics: true))
            do {
                let group = try EventLoopGroup(threads: 1)
                let transport = try HTTP2ClientTransport(targets: [host.address], group: group)
                _ = try await Minions.Client(RPCClient(transport: transport)).create(Self.minion("m1"))
                await transport.close()
                await group.shutdown()
                let text = try Exposition(parsing: try #require(host.metrics).prometheusText())
                #expect(text.value("capstan_etcd_retries_total", [:]) != nil)
                #expect(text.value("capstan_etcd_watch_resumes_total", [:]) != nil)
                #expect(text.value("capstan_apiserver_objects", ["resource": "minions"]) == 1)
                #expect(!text.types.keys.contains { $0.hasPrefix("capstan_sqlite_") })
            } catch {
                Issue.record("\(error)")
            }
            await host.stop()
        }
    }

    @Test("collected families render with HELP and TYPE, labels sorted and escaped, whole numbers without a fraction")
    func collectedFamilies() throws {
        let metrics = RPCMetrics()
        metrics.addCollector {
            [
                MetricFamily("things", .gauge, help: "Things\nheld.", samples: [
                    MetricFamily.Sample(3, labels: ["z": "last", "a": "say \"hi\"\\"]),
                    MetricFamily.Sample(0.25, labels: ["z": "other", "a": ""]),
                ]),
                MetricFamily("empty_total", .counter, help: "Nothing yet.", samples: []),
            ]
        }
        metrics.addCollector { [MetricFamily("big", .gauge, help: "Past 2^53.", value: 1e300)] }
        let raw = metrics.prometheusText()
        #expect(raw.contains("# HELP things Things\\nheld.\n# TYPE things gauge\n"))
        #expect(raw.contains(#"things{a="say \"hi\"\\",z="last"} 3"# + "\n"))
        #expect(raw.contains(#"things{a="",z="other"} 0.25"# + "\n"))
        #expect(raw.contains("# TYPE empty_total counter\n"))
        #expect(raw.contains("\nbig 1e+300\n"))
        let text = try Exposition(parsing: raw)
        #expect(text.value("things", ["z": "last"]) == 3)
        #expect(text.value("things", ["a": "say \"hi\"\\"]) == 3)
        #expect(text.types["big"] == "gauge")
        // After the RPC families, and in the Metrics RPC's text too.
        #expect(raw.hasPrefix("# HELP capstan_rpc_server_calls_total"))
        #expect(metrics.snapshot().prometheusText == raw)
    }

    @Test("/proc/self/stat fields are read after the last parenthesis of the command")
    func statParsing() throws {
        // Field 2, the command, may hold spaces and parentheses.
        let line = "4242 (a) b) (c) S 1 4242 4242 0 -1 4194560 900 0 0 0 150 75 0 0 20 0 7 0 123456 "
            + "987654321 2048 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 17 1 0 0 0 0 0\n"
        let stat = try #require(ProcessMetrics.parseStat(line))
        #expect(stat == ProcessMetrics.Stat(
            parentPID: 1, userTicks: 150, systemTicks: 75, threads: 7, startTicks: 123456, virtualBytes: 987654321, residentPages: 2048))
        #expect(ProcessMetrics.parseStat("4242 (short) S 1 2") == nil)
        #expect(ProcessMetrics.parseStat("no parenthesis") == nil)
        #expect(ProcessMetrics.parseBootTime("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n") == 1_700_000_000)
        #expect(ProcessMetrics.parseBootTime("cpu 1\n") == nil)
        // This process, read for real.
        let names = Set(ProcessMetrics.families().map(\.name))
        #expect(names.isSuperset(of: [
            "process_cpu_seconds_total", "process_start_time_seconds", "process_resident_memory_bytes",
            "process_virtual_memory_bytes", "process_threads", "process_open_fds",
        ]))
    }
}
