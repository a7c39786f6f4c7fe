import CapstanAPI
import CapstanRPC
import CapstanTestSupport
import Logging
import Testing

@Suite("Request logs", .timeLimit(.minutes(1)))
struct RequestLogTests {
    private func string(_ record: CapturedRecord, _ key: String) -> String? {
        switch record.metadata[key] {
        case .string(let value)?: return value
        case .stringConvertible(let value)?: return value.description
        default: return nil
        }
    }

    @Test(
        "one record per call: method, code, latency, peer; errors and stream counts; health skipped",
        arguments: MetricsInstallation.allCases)
    func recordsPerCall(installation: MetricsInstallation) async throws {
        let records = CapturedRecords()
        let logger = records.logger(level: .debug)
        let interceptors: [any ServerInterceptor] =
            installation == .interceptor ? [RequestLogInterceptor(logger: logger)] : []
        let observers: [any CallObserver] = installation == .observer ? [RequestLogObserver(logger: logger)] : []
        try await withProbeServer(interceptors: interceptors, observers: observers) { client in
            _ = try await client.unary(Probe.get, note("hello"), options: .default)
            #expect(await failureCode { _ = try await client.unary(Probe.get, note("missing"), options: .default) } == .notFound)
            #expect(await failureCode { _ = try await client.unary(Probe.get, note("crash"), options: .default) } == .unknown)
            let expand = try await client.serverStreaming(Probe.expand, note("3"), options: .default)
            for try await _ in expand {}
            _ = try await Grpc_Health_V1_Health.Client(client).check(Grpc_Health_V1_HealthCheckRequest())
        }
        let all = records.all
        #expect(all.count == 4, "health checks are not logged: \(all.map(\.metadata))")
        #expect(all.allSatisfy { $0.message == "rpc" })
        #expect(all.map { string($0, "rpc.method") } == [
            "/capstan.test.Probe/Get", "/capstan.test.Probe/Get", "/capstan.test.Probe/Get", "/capstan.test.Probe/Expand",
        ])
        #expect(all.map { string($0, "rpc.code") } == ["OK", "NOT_FOUND", "UNKNOWN", "OK"])
        #expect(all.map(\.level) == [.debug, .info, .error, .debug])
        for record in all {
            let latency = try #require(string(record, "rpc.latency_ms").flatMap(Double.init))
            #expect(latency >= 0 && latency < 60_000)
            #expect(string(record, "rpc.peer")?.isEmpty == false)
        }
        #expect(string(all[0], "rpc.error") == nil)
        #expect(string(all[1], "rpc.error") == "no such thing 'missing'")
        #expect(string(all[2], "rpc.error")?.contains("ProbeCrash") == true)
        #expect(string(all[0], "rpc.messages_sent") == nil, "unary calls carry no message counts")
        #expect(string(all[3], "rpc.messages_received") == "1")
        #expect(string(all[3], "rpc.messages_sent") == "3")
    }

    @Test("levels: server faults are errors, capacity and time warnings, caller mistakes and slow calls info, other successes debug")
    func levels() {
        #expect(RequestLogInterceptor.level(for: .ok) == .debug)
        #expect(RequestLogInterceptor.level(for: .ok, latency: .milliseconds(499)) == .debug)
        #expect(RequestLogInterceptor.level(for: .ok, latency: .milliseconds(500)) == .info)
        #expect(RequestLogInterceptor.level(for: .ok, latency: .milliseconds(20), slowCallThreshold: .milliseconds(10)) == .info)
        #expect(RequestLogInterceptor.level(for: .invalidArgument, latency: .seconds(5)) == .info)
        #expect(RequestLogInterceptor.level(for: .invalidArgument) == .info)
        #expect(RequestLogInterceptor.level(for: .deadlineExceeded) == .warning)
        #expect(RequestLogInterceptor.level(for: .unavailable) == .warning)
        #expect(RequestLogInterceptor.level(for: .internal) == .error)
        #expect(RequestLogInterceptor.level(for: .dataLoss) == .error)
    }

    @Test("a logger at warning drops successful calls and keeps faults (observer)")
    func levelFilter() async throws {
        let records = CapturedRecords()
        let observer = RequestLogObserver(logger: records.logger(level: .warning), skippedServices: [])
        try await withProbeServer(observers: [observer]) { client in
            _ = try await client.unary(Probe.get, note("hello"), options: .default)
            _ = await failureCode { _ = try await client.unary(Probe.get, note("crash"), options: .default) }
        }
        #expect(records.all.map { string($0, "rpc.code") } == ["UNKNOWN"])
    }

    @Test("past the limit per second, lines are dropped and summed up by code a second later; the next window writes again")
    func rateLimit() async throws {
        let records = CapturedRecords()
        let logger = records.logger(level: .info)
        let limiter = RequestLogLimiter(linesPerSecond: 5, logger: logger)
        let observer = RequestLogObserver(logger: logger, skippedServices: [], limiter: limiter)
        func finish(_ code: RPCCode) {
            observer.callFinished(
                FinishedCall(
                    method: CallObservation.unroutedMethod, path: "/x.Y/Z", peer: "test",
                    status: RPCStatus(code: code, message: "failed"), messagesReceived: 1, messagesSent: 0,
                    latency: .milliseconds(1)),
                token: nil)
        }
        // 12 failures in a row (microseconds apart): 5 written, 7 dropped.
        for index in 0..<12 { finish(index < 9 ? .unavailable : .internal) }
        #expect(records.all.filter { $0.message == "rpc" }.count == 5)
        #expect(await eventually(timeout: .seconds(10)) { records.all.contains { $0.message == "rpc log lines dropped" } })
        let summary = try #require(records.all.first { $0.message == "rpc log lines dropped" })
        // At error: INTERNAL lines (logged at error) were among those dropped.
        #expect(summary.level == .error)
        #expect(string(summary, "rpc.dropped") == "7")
        #expect(string(summary, "rpc.dropped_by_code") == "UNAVAILABLE=4,INTERNAL=3")
        #expect(string(summary, "rpc.log_limit_per_second") == "5")
        // Numbers, as JSON lines write them (they were JSON strings).
        #expect(["rpc.dropped", "rpc.log_limit_per_second"].allSatisfy {
            if case .stringConvertible(let value)? = summary.metadata[$0] { value is LogNumber } else { false }
        })
        // The summary came a second after the first drop: a new window writes again.
        finish(.unavailable)
        #expect(records.all.filter { $0.message == "rpc" }.count == 6)
        // Nothing dropped since: no second summary.
        try await Task.sleep(for: .milliseconds(1_200))
        #expect(records.all.filter { $0.message == "rpc log lines dropped" }.count == 1)
    }

    @Test("at info, a successful call is logged only when it reaches the slow-call threshold", arguments: MetricsInstallation.allCases)
    func slowCalls(installation: MetricsInstallation) async throws {
        for threshold in [Duration.seconds(60), .zero] {
            let records = CapturedRecords()
            let logger = records.logger(level: .info)
            let interceptors: [any ServerInterceptor] =
                installation == .interceptor ? [RequestLogInterceptor(logger: logger, slowCallThreshold: threshold)] : []
            let observers: [any CallObserver] =
                installation == .observer ? [RequestLogObserver(logger: logger, slowCallThreshold: threshold)] : []
            try await withProbeServer(interceptors: interceptors, observers: observers) { client in
                _ = try await client.unary(Probe.get, note("hello"), options: .default)
                _ = await failureCode { _ = try await client.unary(Probe.get, note("missing"), options: .default) }
            }
            let expected = threshold == .zero ? ["OK", "NOT_FOUND"] : ["NOT_FOUND"]
            #expect(records.all.map { string($0, "rpc.code") } == expected, "threshold \(threshold)")
            #expect(records.all.allSatisfy { $0.level == .info })
        }
    }

    @Test("health checks are logged when not skipped")
    func healthWhenAsked() async throws {
        let records = CapturedRecords()
        let interceptor = RequestLogInterceptor(logger: records.logger(), skippedServices: [])
        try await withProbeServer(interceptors: [interceptor]) { client in
            _ = try await Grpc_Health_V1_Health.Client(client).check(Grpc_Health_V1_HealthCheckRequest())
        }
        #expect(records.all.map { string($0, "rpc.method") } == ["/grpc.health.v1.Health/Check"])
    }
}
