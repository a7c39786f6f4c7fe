public import CapstanWire

/// A client-streaming call in progress: `send` requests, then `finish` for the response.
/// Dropping it unfinished cancels the call.
public struct ClientStreamingCall<Request: WireMessage, Response: WireMessage>: Sendable {
    let call: ClientCall

    /// Sends one request, suspending while the server cannot take more. A request that cannot be
    /// encoded whole (a string holding a NUL byte) throws `INVALID_ARGUMENT` and sends nothing.
    public func send(_ message: Request) async throws {
        try await call.send(MessageCodec.encodeRequest(message, path: call.path))
    }

    /// Half-closes and waits for the single response; throws the call's `RPCError`.
    public func finish() async throws -> Response {
        call.closeSend()
        return try await call.singleResponse(Response.self)
    }

    /// The response headers (waits for them; throws the call's error if it failed first).
    public var responseMetadata: Metadata {
        get async throws { try await call.responseHeaders() }
    }

    /// The trailing metadata, once the call ended.
    public var trailingMetadata: Metadata? { call.trailers }

    /// Cancels the call; the server's handler is cancelled.
    public func cancel() { call.cancel() }
}
