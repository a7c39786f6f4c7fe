import CapstanAPI
@testable import CapstanRPC
import Testing

@Suite("Prometheus exposition text")
struct PrometheusTextTests {
    private func method(_ service: String, _ name: String) -> AnyMethodDescriptor {
        AnyMethodDescriptor(service: service, method: name, kind: .unary, requestType: "t.Req", responseType: "t.Res")
    }

    @Test("the latency sum of long calls (watches) does not wrap past 2^63 nanoseconds")
    func longCallsSum() throws {
        let metrics = RPCMetrics()
        let stats = metrics.stats(for: method("capstan.v1.Pods", "Watch"))
        // Three calls of 100 years: 9.5e18 ns in all, past Int64.max.
        let century: Int64 = 100 * 365 * 86_400 * 1_000_000_000
        for _ in 0..<3 {
            stats.callStarted()
            stats.callEnded(code: .ok, latencyNanoseconds: century, received: 1, sent: 1)
        }
        let snapshot = try #require(metrics.methodMetrics().first)
        #expect(abs(snapshot.latencySumSeconds - 3 * Double(century) / 1e9) < 1)
    }

    @Test("buckets, sum and count from known latencies are exact")
    func exactHistogram() throws {
        let metrics = RPCMetrics()
        let stats = metrics.stats(for: method("capstan.v1.Pods", "Get"))
        // 0.1 ms exactly (le="0.0001" is inclusive), 0.3 ms, 7 ms, 2 s, 11 s (+Inf only).
        for nanoseconds: Int64 in [100_000, 300_000, 7_000_000, 2_000_000_000, 11_000_000_000] {
            stats.callStarted()
            stats.callEnded(code: .ok, latencyNanoseconds: nanoseconds, received: 1, sent: 1)
        }
        stats.callStarted()
        stats.callEnded(code: .internal, latencyNanoseconds: 50, received: 1, sent: 0)
        stats.callStarted()  // still running

        let snapshot = try #require(metrics.methodMetrics().first)
        #expect(snapshot.latencyBuckets.map(\.cumulativeCount) == [2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 6])
        #expect(snapshot.calls == 6)
        #expect(snapshot.inFlight == 1)
        // The sum is kept in whole microseconds: the 50 ns call adds nothing.
        #expect(abs(snapshot.latencySumSeconds - 13.0074) < 1e-9)

        let text = try Exposition(parsing: metrics.prometheusText())
        let labels = ["service": "capstan.v1.Pods", "method": "Get"]
        let les = ["0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                   "0.5", "1", "2.5", "5", "10", "+Inf"]
        let bucketValues = les.map { text.value("capstan_rpc_server_call_duration_seconds_bucket", labels.merging(["le": $0]) { $1 }) }
        #expect(bucketValues == [2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 6])
        #expect(text.value("capstan_rpc_server_call_duration_seconds_count", labels) == 6)
        #expect(abs((text.value("capstan_rpc_server_call_duration_seconds_sum", labels) ?? 0) - 13.0074) < 1e-9)
        #expect(text.value("capstan_rpc_server_calls_total", labels.merging(["code": "OK"]) { $1 }) == 5)
        #expect(text.value("capstan_rpc_server_calls_total", labels.merging(["code": "INTERNAL"]) { $1 }) == 1)
        #expect(text.value("capstan_rpc_server_calls_in_flight", labels) == 1)
        #expect(text.value("capstan_rpc_server_messages_received_total", labels) == 6)
        #expect(text.value("capstan_rpc_server_messages_sent_total", labels) == 5)
        #expect(Set(text.types.keys) == Set(text.helps.keys))
        #expect(text.types == [
            "capstan_rpc_server_calls_total": "counter", "capstan_rpc_server_calls_in_flight": "gauge",
            "capstan_rpc_server_call_duration_seconds": "histogram",
            "capstan_rpc_server_messages_received_total": "counter", "capstan_rpc_server_messages_sent_total": "counter",
        ])
    }

    @Test("label values escape backslash, quote and line feed, and parse back")
    func escaping() throws {
        let metrics = RPCMetrics()
        let odd = method("odd\\svc", "say \"hi\"\nnow")
        metrics.stats(for: odd).callStarted()
        metrics.stats(for: odd).callEnded(code: .ok, latencyNanoseconds: 1, received: 0, sent: 0)
        let raw = metrics.prometheusText()
        #expect(raw.contains(#"service="odd\\svc",method="say \"hi\"\nnow""#))
        let text = try Exposition(parsing: raw)
        #expect(text.value("capstan_rpc_server_calls_total", ["service": "odd\\svc", "method": "say \"hi\"\nnow", "code": "OK"]) == 1)
    }

    @Test("no calls yet: only the HELP and TYPE lines, still valid")
    func empty() throws {
        let text = try Exposition(parsing: RPCMetrics().prometheusText())
        #expect(text.samples.isEmpty)
        #expect(text.types.count == 5)
    }

    @Test("methods are sorted by service, then method, in the structured snapshot")
    func ordering() {
        let metrics = RPCMetrics()
        for (service, name) in [("b.S", "A"), ("a.S", "Z"), ("a.S", "B")] {
            let stats = metrics.stats(for: method(service, name))
            stats.callStarted()
            stats.callEnded(code: .ok, latencyNanoseconds: 1, received: 1, sent: 1)
        }
        let snapshot = metrics.snapshot()
        #expect(snapshot.methods.map { "\($0.service)/\($0.method)" } == ["a.S/B", "a.S/Z", "b.S/A"])
        #expect(snapshot.prometheusText == metrics.prometheusText())
    }
}
