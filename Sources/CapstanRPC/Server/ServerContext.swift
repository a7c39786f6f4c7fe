/// What a handler (and each server interceptor) knows about its call.
public struct ServerContext: Sendable {
    /// The method being called.
    public let method: AnyMethodDescriptor
    /// Custom request metadata; interceptors may change it for the handlers after them.
    public var metadata: Metadata
    /// When the client stops waiting; past it the handler is cancelled.
    public var deadline: ContinuousClock.Instant? { callDeadline?.instant }
    /// The same, stored in a frozen form (see `CallDeadline`).
    let callDeadline: CallDeadline?
    /// Who called, as the transport describes it.
    public let peer: String

    let call: ServerCall

    init(method: AnyMethodDescriptor, metadata: Metadata, deadline: CallDeadline?, peer: String, call: ServerCall) {
        self.method = method
        self.metadata = metadata
        callDeadline = deadline
        self.peer = peer
        self.call = call
    }

    /// Whether the peer cancelled the call or its deadline passed.
    public var isCancelled: Bool { call.isCancelled }

    /// Request messages handed to the handler so far.
    public var messagesReceived: Int { call.messagesReceived }

    /// Response messages sent so far.
    public var messagesSent: Int { call.messagesSent }

    /// The status the call already ended with, or `nil` while it runs. A call normally ends after
    /// its interceptors return; one whose deadline passed ends first (`DEADLINE_EXCEEDED`), and its
    /// handler is cancelled afterwards, so an interceptor seeing an error checks this for the status
    /// the client really got.
    public var endedStatus: RPCStatus? { call.endedStatus }

    /// Adds response headers; they are sent before the first response message.
    /// Throws once they were sent.
    public func addResponseHeaders(_ headers: Metadata) throws(RPCError) {
        try call.addResponseHeaders(headers)
    }

    /// Adds trailing metadata, sent with the final status.
    public func addTrailingMetadata(_ trailers: Metadata) {
        call.addTrailers(trailers)
    }
}
