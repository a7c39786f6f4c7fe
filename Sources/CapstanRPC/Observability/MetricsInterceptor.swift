/// Counts every call it sees into `RPCMetrics`: in flight while it runs, then its status code,
/// latency (from this interceptor's start to the end of the chain inside it) and messages.
/// Install it outside interceptors that may reject calls, so rejections are counted too.
public struct MetricsInterceptor: ServerInterceptor {
    public let metrics: RPCMetrics

    public init(metrics: RPCMetrics) {
        self.metrics = metrics
    }

    public func intercept(
        _ context: ServerContext,
        next: @Sendable (ServerContext) async throws -> Void
    ) async throws {
        let stats = metrics.stats(for: context.method)
        stats.callStarted()
        let start = ContinuousClock.now
        var thrown: (any Error)?
        do {
            try await next(context)
        } catch {
            thrown = error
        }
        let latency = start.duration(to: .now).wholeNanoseconds
        stats.callEnded(
            code: CallOutcome.status(thrown: thrown, context: context).code,
            latencyNanoseconds: latency,
            received: context.messagesReceived,
            sent: context.messagesSent)
        if let thrown { throw thrown }
    }
}
