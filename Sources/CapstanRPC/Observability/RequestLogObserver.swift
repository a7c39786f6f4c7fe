public import Logging

/// Logs one structured line per call once it ended, as a `CallObserver`: the same lines, levels
/// and skipped services as `RequestLogInterceptor`, without turning off the server's unary fast
/// path. Calls without a route are logged with the path the client sent.
public struct RequestLogObserver: CallObserver {
    /// Where lines go.
    public let logger: Logger
    /// Services whose calls are not logged (by default the health service).
    public let skippedServices: Set<String>
    /// `OK` calls that took at least this long log at `info`, faster ones at `debug`.
    public let slowCallThreshold: Duration

    public init(
        logger: Logger, skippedServices: Set<String> = RequestLogInterceptor.defaultSkippedServices,
        slowCallThreshold: Duration = RequestLogInterceptor.defaultSlowCallThreshold
    ) {
        self.logger = logger
        self.skippedServices = skippedServices
        self.slowCallThreshold = slowCallThreshold
    }

    public func callFinished(_ call: FinishedCall, token: CallObserverToken) {
        // The level first: most calls are fast successes, dropped at the default level.
        let level = RequestLogInterceptor.level(
            for: call.status.code, latency: call.latency, slowCallThreshold: slowCallThreshold)
        guard logger.logLevel <= level else { return }
        if !skippedServices.isEmpty, skippedServices.contains(call.method.service) { return }
        RequestLogInterceptor.log(call, to: logger, slowCallThreshold: slowCallThreshold)
    }
}
