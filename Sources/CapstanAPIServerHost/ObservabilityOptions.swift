import CapstanRPC
public import Logging

/// Request logs and metrics of an `APIServerHost`.
public struct ObservabilityOptions: Sendable {
    /// Where one line per call goes (`RequestLogObserver`: successful calls at `debug` unless
    /// slow, failures at `info` and above); `nil`: no request logs.
    public var requestLogger: Logger?
    /// Services whose calls are not logged (by default health checks).
    public var unloggedServices: Set<String> = RequestLogInterceptor.defaultSkippedServices
    /// Successful calls that took at least this long are logged at `info`, not `debug`.
    public var slowCallThreshold: Duration = RequestLogInterceptor.defaultSlowCallThreshold
    /// Most request-log lines per second; past it lines are dropped and counted, and summed up
    /// once a second (`RequestLogLimiter`). `nil` (or 0): no limit.
    public var requestLogLinesPerSecond: Int? = 100
    /// Count per-method metrics and serve them through `capstan.v1.Metrics`.
    public var metrics = true
    /// Also serve them as Prometheus text at `GET /metrics` on this `HOST:PORT` (plain HTTP/1.1;
    /// port 0 picks a free one); `nil`: no such listener. Needs `metrics`.
    public var metricsListen: (host: String, port: Int)?

    public init(
        requestLogger: Logger? = nil, metrics: Bool = true, metricsListen: (host: String, port: Int)? = nil
    ) {
        self.requestLogger = requestLogger
        self.metrics = metrics
        self.metricsListen = metricsListen
    }
}
