public import CapstanAPI

/// `capstan.v1.Metrics`: the server's own per-method call metrics, structured and as the same
/// Prometheus text `GET /metrics` serves.
public struct MetricsService: Metrics.Handler {
    public let metrics: RPCMetrics

    public init(metrics: RPCMetrics) {
        self.metrics = metrics
    }

    public func get(request: MetricsRequest, context: ServerContext) async throws -> MetricsSnapshot {
        metrics.snapshot()
    }
}
