public import CapstanWire

/// A bidirectional call in progress: `send` requests and read `responses` concurrently.
/// Dropping it unfinished cancels the call.
public struct BidirectionalCall<Request: WireMessage, Response: WireMessage>: Sendable {
    let call: ClientCall

    /// Sends one request, suspending while the server cannot take more. A request that cannot be
    /// encoded whole (a string holding a NUL byte) throws `INVALID_ARGUMENT` and sends nothing.
    public func send(_ message: Request) async throws {
        try await call.send(MessageCodec.encodeRequest(message, path: call.path))
    }

    /// Half-closes: the server's request stream ends.
    public func closeSend() { call.closeSend() }

    /// The responses; iterate once.
    public var responses: ResponseMessages<Response> { ResponseMessages(call: call) }

    /// The response headers (waits for them; throws the call's error if it failed first).
    public var responseMetadata: Metadata {
        get async throws { try await call.responseHeaders() }
    }

    /// The trailing metadata, once the responses ended.
    public var trailingMetadata: Metadata? { call.trailers }

    /// Cancels the call; the server's handler is cancelled.
    public func cancel() { call.cancel() }
}
