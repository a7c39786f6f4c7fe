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
    /// Bounds the lines per second (nil: every call's line is written).
    public let limiter: RequestLogLimiter?
    /// `logger.logLevel`, read once: the logger is a value, so its level cannot change under this
    /// observer (unless its handler is a class that shares its level), and reading it per call
    /// copies the handler.
    private let logLevel: Logger.Level

    public init(
        logger: Logger, skippedServices: Set<String> = RequestLogInterceptor.defaultSkippedServices,
        slowCallThreshold: Duration = RequestLogInterceptor.defaultSlowCallThreshold,
        limiter: RequestLogLimiter? = nil
    ) {
        self.logger = logger
        self.skippedServices = skippedServices
        self.slowCallThreshold = slowCallThreshold
        self.limiter = limiter
        logLevel = logger.logLevel
    }

    public func callFinished(_ call: FinishedCall, token: CallObserverToken) {
        // The level first: most calls are fast successes, dropped at the default level.
        let level = RequestLogInterceptor.level(
            for: call.status.code, latency: call.latency, slowCallThreshold: slowCallThreshold)
        guard logLevel <= level else { return }
        if !skippedServices.isEmpty, skippedServices.contains(call.method.service) { return }
        if let limiter, !limiter.admit(call.status.code) { return }
        RequestLogInterceptor.log(call, to: logger, slowCallThreshold: slowCallThreshold)
    }
}
