import CapstanAPI
import CapstanRPC
import CapstanWire
import Testing

@Suite("Per-method metrics through an in-process server (as observer and as interceptor)", .timeLimit(.minutes(1)))
struct MetricsInterceptorTests {
    /// The metrics of `method` in `metrics`, if it was called.
    private func find(_ metrics: RPCMetrics, _ method: String) -> MethodMetrics? {
        metrics.methodMetrics().first { $0.service == Probe.service && $0.method == method }
    }

    private func codes(_ m: MethodMetrics?) -> [String: UInt64] {
        Dictionary(uniqueKeysWithValues: (m?.codes ?? []).map { ($0.code, $0.count) })
    }

    @Test("calls are counted by status code, with exact message counts per kind", arguments: MetricsInstallation.allCases)
    func countsByCodeAndKind(installation: MetricsInstallation) async throws {
        let metrics = RPCMetrics()
        try await withProbeServer(
            interceptors: installation.interceptors(metrics), observers: installation.observers(metrics)
        ) { client in
            for _ in 0..<3 { _ = try await client.unary(Probe.get, note("hello"), options: .default) }
            for _ in 0..<2 {
                #expect(await failureCode { _ = try await client.unary(Probe.get, note("missing"), options: .default) } == .notFound)
            }
            #expect(await failureCode { _ = try await client.unary(Probe.get, note("crash"), options: .default) } == .unknown)

            let expand = try await client.serverStreaming(Probe.expand, note("4"), options: .default)
            var expanded = 0
            for try await _ in expand { expanded += 1 }
            #expect(expanded == 4)

            let collect = try await client.clientStreaming(Probe.collect, options: .default)
            for part in ["a", "b", "c"] { try await collect.send(note(part)) }
            #expect(try await collect.finish().service == "a,b,c")

            let chat = try await client.bidirectional(Probe.chat, options: .default)
            var responses = chat.responses.makeAsyncIterator()
            for index in 0..<2 {
                try await chat.send(note("m\(index)"))
                #expect(try await responses.next()?.service == "m\(index)")
            }
            chat.closeSend()
            #expect(try await responses.next() == nil)
        }

        let get = find(metrics, "Get")
        #expect(codes(get) == ["OK": 3, "NOT_FOUND": 2, "UNKNOWN": 1])
        #expect(get?.codes.map(\.number) == [0, 2, 5])
        #expect(get?.calls == 6)
        #expect(get?.kind == "unary")
        #expect(get?.messagesReceived == 6)
        #expect(get?.messagesSent == 3)
        #expect(get?.inFlight == 0)

        let expand = find(metrics, "Expand")
        #expect(codes(expand) == ["OK": 1])
        #expect(expand?.messagesReceived == 1)
        #expect(expand?.messagesSent == 4)
        #expect(expand?.kind == "serverStreaming")

        let collect = find(metrics, "Collect")
        #expect(collect?.messagesReceived == 3)
        #expect(collect?.messagesSent == 1)

        let chat = find(metrics, "Chat")
        #expect(codes(chat) == ["OK": 1])
        #expect(chat?.messagesReceived == 2)
        #expect(chat?.messagesSent == 2)
        #expect(chat?.kind == "bidirectional")

        #expect(metrics.methodMetrics().map(\.method) == ["Chat", "Collect", "Expand", "Get"])
    }

    @Test("the latency histogram has the fixed cumulative buckets; a 30 ms call lands above 25 ms", arguments: MetricsInstallation.allCases)
    func histogram(installation: MetricsInstallation) async throws {
        let metrics = RPCMetrics()
        try await withProbeServer(
            interceptors: installation.interceptors(metrics), observers: installation.observers(metrics)
        ) { client in
            _ = try await client.unary(Probe.get, note("slow"), options: .default)
            _ = try await client.unary(Probe.get, note("fast"), options: .default)
        }
        let get = try #require(find(metrics, "Get"))
        #expect(get.latencyBuckets.map(\.upperBoundSeconds) == [
            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, .infinity,
        ])
        let counts = get.latencyBuckets.map(\.cumulativeCount)
        #expect(zip(counts, counts.dropFirst()).allSatisfy { $0 <= $1 }, "cumulative: \(counts)")
        #expect(counts.last == 2)
        // The slow call slept 30 ms, so at most the fast one is at or below 25 ms.
        #expect(get.latencyBuckets[7].cumulativeCount <= 1)
        #expect(get.latencySumSeconds >= 0.030)
    }

    @Test("a call whose deadline passes on the server counts as DEADLINE_EXCEEDED, not CANCELLED", arguments: MetricsInstallation.allCases)
    func deadline(installation: MetricsInstallation) async throws {
        let metrics = RPCMetrics()
        var router = RPCRouter()
        Probe.register(in: &router)
        let server = installation.server(router, metrics)
        let writer = RecordingWriter()
        // Straight into the server: no client whose own deadline could reset the stream first.
        await server.handle(probeGetStream("hang", deadline: .now + .milliseconds(200), writer: writer))
        #expect(writer.statuses.map(\.code) == [.deadlineExceeded])
        #expect(codes(find(metrics, "Get")) == ["DEADLINE_EXCEEDED": 1])
        #expect(find(metrics, "Get")?.inFlight == 0)
    }

    @Test(
        "a stream the client cancels counts as CANCELLED, also when its handler then returns normally",
        arguments: MetricsInstallation.allCases)
    func cancelledStream(installation: MetricsInstallation) async throws {
        let metrics = RPCMetrics()
        try await withProbeServer(
            interceptors: installation.interceptors(metrics), observers: installation.observers(metrics)
        ) { client in
            let call = try await client.serverStreaming(Probe.expand, note("quiet"))
            var responses = call.makeAsyncIterator()
            #expect(try await responses.next()?.service == "0")
            call.cancel()
            #expect(await eventually { find(metrics, "Expand")?.calls == 1 })
            #expect(codes(find(metrics, "Expand")) == ["CANCELLED": 1])
        }
    }

    @Test("calls in flight are counted while they run", arguments: MetricsInstallation.allCases)
    func inFlight(installation: MetricsInstallation) async throws {
        let metrics = RPCMetrics()
        try await withProbeServer(
            interceptors: installation.interceptors(metrics), observers: installation.observers(metrics)
        ) { client in
            let chat = try await client.bidirectional(Probe.chat, options: .default)
            var responses = chat.responses.makeAsyncIterator()
            try await chat.send(note("x"))
            _ = try await responses.next()
            #expect(find(metrics, "Chat")?.inFlight == 1)
            #expect(find(metrics, "Chat")?.calls == 0)
            chat.closeSend()
            _ = try await responses.next()
            #expect(find(metrics, "Chat")?.inFlight == 0)
            #expect(find(metrics, "Chat")?.calls == 1)
        }
    }
}
