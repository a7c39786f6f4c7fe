/// Counts every call a server answers into `RPCMetrics` as a `CallObserver`: in flight from its
/// start, then its status code, latency and messages once it ended. Unlike `MetricsInterceptor`
/// it keeps the server's unary fast path, sees calls that interceptors reject, and counts calls
/// without a route under `unknown`/`unknown`.
public struct MetricsObserver: CallObserver {
    public let metrics: RPCMetrics

    public init(metrics: RPCMetrics) {
        self.metrics = metrics
    }

    public func callStarted(method: AnyMethodDescriptor) -> CallObserverToken {
        let stats = metrics.stats(for: method)
        stats.callStarted()
        return stats
    }

    /// The method's counters in `metrics` (listed from its first call), so calls reach them
    /// without a lookup.
    public func prepare(method: AnyMethodDescriptor) -> CallObserverToken {
        metrics.preparedStats(for: method)
    }

    public func callStarted(method: AnyMethodDescriptor, prepared: CallObserverToken) -> CallObserverToken {
        guard let stats = prepared as? MethodStats, stats.owner == ObjectIdentifier(metrics) else {
            return callStarted(method: method)
        }
        stats.callStarted()
        return stats
    }

    public func callFinished(_ call: FinishedCall, token: CallObserverToken) {
        // The token is always the method's counters from `callStarted`; look them up if not.
        let stats = token as? MethodStats ?? metrics.stats(for: call.method)
        stats.callEnded(
            code: call.status.code, latencyNanoseconds: call.latency.wholeNanoseconds,
            received: call.messagesReceived, sent: call.messagesSent)
    }
}
