import CapstanAPI
import CapstanAPIServerHost
import CapstanHTTP2
import CapstanRPC
import Foundation
import Logging
import CapstanTestSupport
import Testing

/// An API server on a temporary SQLite store with request logs into `records`, metrics and a
/// `GET /metrics` listener on random loopback ports, and a client over HTTP/2.
func withObservedServer<T: Sendable>(
    records: CapturedRecords,
    _ body: @escaping @Sendable (APIServerHost, RPCClient) async throws -> T
) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-obs-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let host = try await APIServerHost.start(
        store: .sqlite(directory), host: "127.0.0.1", port: 0,
        observability: ObservabilityOptions(
            requestLogger: records.logger(level: .debug), metrics: true, metricsListen: ("127.0.0.1", 0)))
    let group = try EventLoopGroup(threads: 1)
    let transport = try HTTP2ClientTransport(targets: [host.address], group: group)
    let result: Result<T, any Error>
    do {
        result = .success(try await bounded("the test body") { try await body(host, RPCClient(transport: transport)) })
    } catch {
        result = .failure(error)
    }
    await transport.close()
    await group.shutdown()
    await host.stop()
    return try result.get()
}

private func minion(_ name: String) -> Minion {
    var minion = Minion()
    minion.metadata.name = name
    minion.spec.address = "10.0.0.1"
    minion.spec.kubeletPort = 10250
    return minion
}

@Suite("Observability of a real API server", .timeLimit(.minutes(2)))
struct APIServerObservabilityTests {
    @Test("the Metrics RPC over HTTP/2 reports calls by code, and the same counters as Prometheus text")
    func metricsRPC() async throws {
        let records = CapturedRecords()
        try await withObservedServer(records: records) { _, rpc in
            let minions = Minions.Client(rpc)
            _ = try await minions.create(minion("m1"))
            _ = try await minions.create(minion("m2"))
            var missing = GetRequest()
            missing.name = "nope"
            #expect(await failureCode { _ = try await minions.get(missing) } == .notFound)
            #expect(await failureCode { _ = try await minions.create(minion("m1")) } == .alreadyExists)

            // A call is counted just after its status went out: the client can ask before that.
            let snapshot = try await settledMetrics(rpc) { snapshot in
                let calls = snapshot.methods.filter { $0.service == "capstan.v1.Minions" }.map(\.calls).reduce(0, +)
                return calls == 4 && records.all.filter { $0.metadata["rpc.method"] == "/capstan.v1.Minions/Create" }.count == 3
            }
            let create = try #require(snapshot.methods.first { $0.service == "capstan.v1.Minions" && $0.method == "Create" })
            #expect(create.codes.map(\.code) == ["OK", "ALREADY_EXISTS"])
            #expect(create.codes.map(\.count) == [2, 1])
            #expect(create.calls == 3)
            #expect(create.messagesReceived == 3)
            #expect(create.messagesSent == 2)
            #expect(create.latencyBuckets.last?.cumulativeCount == 3)
            let get = try #require(snapshot.methods.first { $0.service == "capstan.v1.Minions" && $0.method == "Get" })
            #expect(get.codes.map(\.code) == ["NOT_FOUND"])
            // The Metrics call itself is in flight while it answers.
            let metricsGet = try #require(snapshot.methods.first { $0.service == "capstan.v1.Metrics" })
            #expect(metricsGet.inFlight == 1)

            let text = try Exposition(parsing: snapshot.prometheusText)
            let labels = ["service": "capstan.v1.Minions", "method": "Create"]
            #expect(text.value("capstan_rpc_server_calls_total", labels.merging(["code": "OK"]) { $1 }) == 2)
            #expect(text.value("capstan_rpc_server_calls_total", labels.merging(["code": "ALREADY_EXISTS"]) { $1 }) == 1)
            #expect(text.value("capstan_rpc_server_call_duration_seconds_count", labels) == 3)
            #expect(text.value("capstan_rpc_server_call_duration_seconds_bucket", labels.merging(["le": "+Inf"]) { $1 }) == 3)
            #expect(text.value("capstan_rpc_server_messages_sent_total", labels) == 2)

            let lines = records.all.filter { $0.metadata["rpc.method"] == "/capstan.v1.Minions/Create" }
            #expect(lines.map { $0.metadata["rpc.code"] } == ["OK", "OK", "ALREADY_EXISTS"])
            #expect(lines.allSatisfy { ($0.metadata["rpc.peer"]?.description ?? "").contains("127.0.0.1") })
        }
    }

    @Test("a documented method with a fixed UNIMPLEMENTED answer counts under its own name; an unknown path under unknown")
    func fixedAnswers() async throws {
        let records = CapturedRecords()
        try await withObservedServer(records: records) { _, rpc in
            let update = MethodDescriptor<Minion, Minion>(service: Minions.serviceName, method: "Update", kind: .unary)
            #expect(await failureCode { _ = try await rpc.unary(update, minion("m1")) } == .unimplemented)
            let nowhere = MethodDescriptor<Minion, Minion>(service: "no.such.Service", method: "Call", kind: .unary)
            #expect(await failureCode { _ = try await rpc.unary(nowhere, minion("m1")) } == .unimplemented)
            let snapshot = try await settledMetrics(rpc) { snapshot in
                snapshot.methods.contains { $0.method == "Update" } && snapshot.methods.contains { $0.service == "unknown" }
            }
            let counted = try #require(snapshot.methods.first { $0.service == "capstan.v1.Minions" && $0.method == "Update" })
            #expect(counted.codes.map(\.code) == ["UNIMPLEMENTED"])
            let unknown = try #require(snapshot.methods.first { $0.service == "unknown" && $0.method == "unknown" })
            #expect(unknown.calls == 1, "only the unknown path")
        }
    }

    @Test("a watch the client cancels is counted and logged as CANCELLED, not OK")
    func cancelledWatch() async throws {
        let records = CapturedRecords()
        try await withObservedServer(records: records) { _, rpc in
            var request = WatchRequest()
            request.sendInitialEvents = true
            let watch = try await Pods.Client(rpc).watch(request)
            var events = watch.makeAsyncIterator()
            #expect(try await events.next()?.type == .bookmark)
            watch.cancel()
            let metrics = Metrics.Client(rpc)
            var pods: MethodMetrics?
            for _ in 0..<200 {
                let snapshot = try await metrics.get(MetricsRequest())
                pods = snapshot.methods.first { $0.service == "capstan.v1.Pods" && $0.method == "Watch" }
                if pods?.calls == 1 { break }
                try await Task.sleep(for: .milliseconds(25))
            }
            #expect(pods?.codes.map(\.code) == ["CANCELLED"])
            #expect(pods?.inFlight == 0)
            let lines = records.all.filter { $0.metadata["rpc.method"] == "/capstan.v1.Pods/Watch" }
            #expect(lines.map { $0.metadata["rpc.code"] } == ["CANCELLED"])
        }
    }

    @Test("health answers for the Metrics service, which reflection lists")
    func metricsHealth() async throws {
        try await withObservedServer(records: CapturedRecords()) { _, rpc in
            var request = Grpc_Health_V1_HealthCheckRequest()
            request.service = Metrics.serviceName
            let answer = try await Grpc_Health_V1_Health.Client(rpc).check(request)
            #expect(answer.status == .serving)
        }
    }

    @Test("GET /metrics over a socket serves valid exposition text matching the calls made")
    func metricsEndpoint() async throws {
        let records = CapturedRecords()
        try await withObservedServer(records: records) { host, rpc in
            let port = try #require(host.metricsEndpoint?.port)
            let health = Grpc_Health_V1_Health.Client(rpc)
            for _ in 0..<5 { _ = try await health.check(Grpc_Health_V1_HealthCheckRequest()) }
            var unknown = Grpc_Health_V1_HealthCheckRequest()
            unknown.service = "no.such.Service"
            #expect(await failureCode { _ = try await health.check(unknown) } == .notFound)

            // A call is counted just after its status went out: the client can ask before that.
            let labels = ["service": "grpc.health.v1.Health", "method": "Check"]
            var response = try httpExchange(port: port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            for _ in 0..<200 {
                let counted = (try? Exposition(parsing: response.body))?.value("capstan_rpc_server_call_duration_seconds_count", labels)
                if counted == 6 { break }
                try await Task.sleep(for: .milliseconds(25))
                response = try httpExchange(port: port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            }
            #expect(response.status == 200)
            #expect(response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
            #expect(response.headers["content-length"] == String(response.body.utf8.count))
            let text = try Exposition(parsing: response.body)
            #expect(text.value("capstan_rpc_server_calls_total", labels.merging(["code": "OK"]) { $1 }) == 5)
            #expect(text.value("capstan_rpc_server_calls_total", labels.merging(["code": "NOT_FOUND"]) { $1 }) == 1)
            #expect(text.value("capstan_rpc_server_call_duration_seconds_count", labels) == 6)
            #expect(text.value("capstan_rpc_server_calls_in_flight", labels) == 0)
            #expect(text.types["capstan_rpc_server_call_duration_seconds"] == "histogram")
            let buckets = text.samples.filter { $0.name == "capstan_rpc_server_call_duration_seconds_bucket" && $0.labels["method"] == "Check" }
            #expect(buckets.count == 17)
            #expect(zip(buckets, buckets.dropFirst()).allSatisfy { $0.value <= $1.value })
            // Health checks are counted but not logged.
            #expect(records.all.allSatisfy { $0.metadata["rpc.method"]?.description.hasPrefix("/grpc.health") == false })

            let head = try httpExchange(port: port, "HEAD /metrics?x=1 HTTP/1.0\r\n\r\n")
            #expect(head.status == 200)
            #expect(head.body.isEmpty)
        }
    }

    @Test("bad requests get 400, 404, 405 and 431; concurrent and stalled scrapers do not block others")
    func endpointErrors() async throws {
        try await withObservedServer(records: CapturedRecords()) { host, _ in
            let port = try #require(host.metricsEndpoint?.port)
            #expect(try httpExchange(port: port, "GET /nothing HTTP/1.1\r\n\r\n").status == 404)
            let post = try httpExchange(port: port, "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
            #expect(post.status == 405)
            #expect(post.headers["allow"] == "GET, HEAD")
            #expect(try httpExchange(port: port, "garbage\r\n\r\n").status == 400)
            #expect(try httpExchange(port: port, "GET /metrics SPDY/3\r\n\r\n").status == 400)
            let huge = "GET /metrics HTTP/1.1\r\nX-Pad: " + String(repeating: "a", count: 20_000) + "\r\n\r\n"
            #expect(try httpExchange(port: port, huge).status == 431)

            // A connection that never sends its request does not hold up the others.
            let stalled = try RawConnection(port: port)
            try stalled.send("GET /met")
            let results = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<8 {
                    group.addTask { try httpExchange(port: port, "GET /metrics HTTP/1.1\r\n\r\n").status }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(results == Array(repeating: 200, count: 8))
            withExtendedLifetime(stalled) {}
        }
    }

    @Test("stopping the host closes the metrics listener")
    func stopCloses() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-obs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A port below the ephemeral range: once closed, no other test's listener or outgoing
        // connection takes it before the check that nothing answers there.
        let host = try await APIServerHost.start(
            store: .sqlite(directory), observability: ObservabilityOptions(metricsListen: ("127.0.0.1", try restartablePort())))
        let port = try #require(host.metricsEndpoint?.port)
        #expect(try httpExchange(port: port, "GET /metrics HTTP/1.1\r\n\r\n").status == 200)
        await host.stop()
        #expect(throws: RawConnection.Failure.self) { _ = try RawConnection(port: port) }
    }

    @Test("a metrics listener without metrics is refused")
    func listenerNeedsMetrics() async throws {
        await #expect(throws: APIServerHostError.self) {
            _ = try await APIServerHost.start(
                store: .sqlite("/nonexistent"), observability: ObservabilityOptions(metrics: false, metricsListen: ("127.0.0.1", 0)))
        }
    }
}

/// The server's metrics once `settled` holds for them (at most about 5 s of asking).
func settledMetrics(_ rpc: RPCClient, _ settled: (MetricsSnapshot) -> Bool) async throws -> MetricsSnapshot {
    var snapshot = try await Metrics.Client(rpc).get(MetricsRequest())
    for _ in 0..<200 where !settled(snapshot) {
        try await Task.sleep(for: .milliseconds(25))
        snapshot = try await Metrics.Client(rpc).get(MetricsRequest())
    }
    return snapshot
}
