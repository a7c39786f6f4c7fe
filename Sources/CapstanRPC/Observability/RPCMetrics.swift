public import CapstanAPI
import Synchronization

/// Per-method call metrics of an RPC server: finished calls by status code, a latency histogram
/// (fixed buckets 0.1 ms … 10 s), calls in flight, and request/response messages. Filled by
/// `MetricsObserver` (or `MetricsInterceptor`), read as `MetricsSnapshot`s (the `capstan.v1.Metrics` service) or as
/// Prometheus text (`prometheusText()`, what `GET /metrics` serves). Collectors
/// (`addCollector`) add families of their own to the text: the state of what the server serves.
///
/// A method appears once it is first called. Observed through `RPCServer`, a call costs no lookup:
/// the server resolves each route's counters once (`preparedStats(for:)`), and they are atomics.
/// (`stats(for:)`, a lookup in a locked table, serves the interceptor and unrouted paths.)
public final class RPCMetrics: Sendable {
    private struct Key: Hashable {
        let service: String
        let method: String
    }

    private let methods = Mutex<[Key: MethodStats]>([:])
    private let collectors = Mutex<[@Sendable () -> [MetricFamily]]>([])

    public init() {}

    /// The counters of `method`, created on first use.
    func stats(for method: AnyMethodDescriptor) -> MethodStats {
        stats(for: method, listing: true)
    }

    /// The counters of `method` for a route resolved once (`MetricsObserver.prepare`): created
    /// now but listed only from the method's first call (`MethodStats.callStarted`), so the
    /// server's calls reach them without a lock or lookup.
    func preparedStats(for method: AnyMethodDescriptor) -> MethodStats {
        stats(for: method, listing: false)
    }

    /// The counters of `method`, created if missing; `listing` shows them in snapshots from now.
    private func stats(for method: AnyMethodDescriptor, listing: Bool) -> MethodStats {
        let key = Key(service: method.service, method: method.method)
        return methods.withLock { methods in
            if let stats = methods[key] {
                if listing { stats.list() }
                return stats
            }
            let stats = MethodStats(method: method, owner: self, listed: listing)
            methods[key] = stats
            return stats
        }
    }

    /// Every method called so far, sorted by service, then method.
    public func methodMetrics() -> [MethodMetrics] {
        let all = methods.withLock { $0.values.filter(\.isListed) }
        return all.map { $0.snapshot() }.sorted { ($0.service, $0.method) < ($1.service, $1.method) }
    }

    /// Adds `collect`, called each time the metrics are read (a scrape, a `Metrics/Get`), to
    /// give families of its own; it should be quick, as it runs on the reader's thread. Names
    /// must not repeat across collectors or clash with the RPC families.
    public func addCollector(_ collect: @escaping @Sendable () -> [MetricFamily]) {
        collectors.withLock { $0.append(collect) }
    }

    /// What the collectors report now, in the order they were added.
    public func collectedFamilies() -> [MetricFamily] {
        collectors.withLock { $0 }.flatMap { $0() }
    }

    /// The counters of every method, structured, and as Prometheus text (from the same reading)
    /// with the collectors' families after them.
    public func snapshot() -> MetricsSnapshot {
        var snapshot = MetricsSnapshot()
        snapshot.methods = methodMetrics()
        snapshot.prometheusText = PrometheusText.render(snapshot.methods) + PrometheusText.render(collectedFamilies())
        return snapshot
    }

    /// The counters, then the collectors' families, in Prometheus' text exposition format, version 0.0.4.
    public func prometheusText() -> String {
        PrometheusText.render(methodMetrics()) + PrometheusText.render(collectedFamilies())
    }

    /// The observer that fills these metrics (`RPCServer(router:observers:)`); prefer it to the
    /// interceptor, which turns off the server's unary fast path.
    public var observer: MetricsObserver { MetricsObserver(metrics: self) }

    /// The interceptor that fills these metrics, for servers that take interceptors only.
    public var interceptor: MetricsInterceptor { MetricsInterceptor(metrics: self) }
}
