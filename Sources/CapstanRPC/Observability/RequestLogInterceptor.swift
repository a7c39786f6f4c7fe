public import Logging

/// Logs one structured line per call once it ends: `rpc.method` (the path), `rpc.code`,
/// `rpc.latency_ms`, `rpc.peer`, for streaming methods `rpc.messages_received` and
/// `rpc.messages_sent`, and for failures `rpc.error` (the status message). All of it is logger
/// metadata; the message is always "rpc".
///
/// Levels: `debug` for `OK` calls faster than the slow-call threshold (500 ms unless told
/// otherwise) and for `CANCELLED` ones (the client ended them), `info` for slower `OK` calls and
/// for errors the caller caused (`INVALID_ARGUMENT`, `NOT_FOUND` …); `warning` when the server could not serve in time or capacity
/// (`DEADLINE_EXCEEDED`, `RESOURCE_EXHAUSTED`, `UNAVAILABLE`, `UNIMPLEMENTED`); `error` for server
/// faults (`INTERNAL`, `UNKNOWN`, `DATA_LOSS`). So at the default `info` a server logs what an
/// operator acts on (failures, slow calls) and not every successful request, as
/// production API servers do (kube-apiserver logs each request only at verbosity 3 and above,
/// etcd only requests that took too long): one line per call would cost more than the call
/// itself on a busy server. Nothing is formatted when the logger's level drops the line.
/// `RequestLogObserver` writes the same lines without costing the unary fast path.
public struct RequestLogInterceptor: ServerInterceptor {
    /// Where lines go.
    public let logger: Logger
    /// Services whose calls are not logged (by default the health service, which load balancers
    /// and probes call constantly).
    public let skippedServices: Set<String>

    /// `OK` calls that took at least this long log at `info`, faster ones at `debug`.
    public let slowCallThreshold: Duration

    /// The services skipped unless told otherwise.
    public static let defaultSkippedServices: Set<String> = ["grpc.health.v1.Health"]
    /// The slow-call threshold unless told otherwise.
    public static let defaultSlowCallThreshold: Duration = .milliseconds(500)

    public init(
        logger: Logger, skippedServices: Set<String> = RequestLogInterceptor.defaultSkippedServices,
        slowCallThreshold: Duration = RequestLogInterceptor.defaultSlowCallThreshold
    ) {
        self.logger = logger
        self.skippedServices = skippedServices
        self.slowCallThreshold = slowCallThreshold
    }

    public func intercept(
        _ context: ServerContext,
        next: @Sendable (ServerContext) async throws -> Void
    ) async throws {
        if skippedServices.contains(context.method.service) {
            try await next(context)
            return
        }
        let start = ContinuousClock.now
        var thrown: (any Error)?
        do {
            try await next(context)
        } catch {
            thrown = error
        }
        let call = FinishedCall(
            method: context.method, path: context.method.path, peer: context.peer,
            status: CallOutcome.status(thrown: thrown, context: context),
            messagesReceived: context.messagesReceived, messagesSent: context.messagesSent,
            latency: start.duration(to: .now))
        Self.log(call, to: logger, slowCallThreshold: slowCallThreshold)
        if let thrown { throw thrown }
    }

    /// The level a call ending with `code` after `latency` is logged at.
    public static func level(
        for code: RPCCode, latency: Duration = .zero, slowCallThreshold: Duration = defaultSlowCallThreshold
    ) -> Logger.Level {
        switch code {
        case .internal, .unknown, .dataLoss:
            .error
        case .deadlineExceeded, .resourceExhausted, .unavailable, .unimplemented:
            .warning
        case .ok:
            latency >= slowCallThreshold ? .info : .debug
        case .cancelled:
            // The client's own choice (a watch it stops, a call it gives up): at `info` every
            // stopped watch wrote a line, 290 bytes each, with watch churn.
            .debug
        case .invalidArgument, .notFound, .alreadyExists, .permissionDenied, .failedPrecondition,
            .aborted, .outOfRange, .unauthenticated:
            .info
        }
    }

    /// Logs `call`'s line at its level; nothing is formatted when `logger` drops the level.
    static func log(_ call: FinishedCall, to logger: Logger, slowCallThreshold: Duration) {
        let level = level(for: call.status.code, latency: call.latency, slowCallThreshold: slowCallThreshold)
        guard logger.logLevel <= level else { return }
        logger.log(level: level, "rpc", metadata: metadata(call))
    }

    private static func metadata(_ call: FinishedCall) -> Logger.Metadata {
        var metadata: Logger.Metadata = [
            "rpc.method": .string(call.path),
            "rpc.code": .string(call.status.code.description),
            "rpc.latency_ms": .stringConvertible(LogNumber(formatted: milliseconds(call.latency))),
        ]
        if !call.peer.isEmpty { metadata["rpc.peer"] = .string(call.peer) }
        if call.method.kind != .unary {
            metadata["rpc.messages_received"] = .stringConvertible(LogNumber(call.messagesReceived))
            metadata["rpc.messages_sent"] = .stringConvertible(LogNumber(call.messagesSent))
        }
        if call.status.code != .ok { metadata["rpc.error"] = .string(call.status.message) }
        return metadata
    }

    /// Milliseconds with three decimals (microsecond resolution), e.g. `0.137`.
    static func milliseconds(_ duration: Duration) -> String {
        let micros = max(duration.wholeNanoseconds / 1_000, 0)
        let fraction = String(micros % 1_000)
        return "\(micros / 1_000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}
