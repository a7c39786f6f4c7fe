/// What a client interceptor sees and may change before a stream opens.
public struct ClientRequestHead: Sendable {
    public let method: AnyMethodDescriptor
    public var metadata: Metadata
    public var deadline: ContinuousClock.Instant?

    public init(method: AnyMethodDescriptor, metadata: Metadata, deadline: ContinuousClock.Instant?) {
        self.method = method
        self.metadata = metadata
        self.deadline = deadline
    }
}

/// Runs around opening every call's stream, outermost first (auth tokens, logging, retries).
public protocol ClientInterceptor: Sendable {
    /// Inspect or change `head`, throw an `RPCError` to fail the call without opening a stream,
    /// or call `next`; the returned stream may be wrapped to observe the call.
    func intercept(
        _ head: ClientRequestHead,
        next: @Sendable (ClientRequestHead) async throws -> ClientTransportStream
    ) async throws -> ClientTransportStream
}
