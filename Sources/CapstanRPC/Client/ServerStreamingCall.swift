public import CapstanWire

/// A server-streaming call in progress: iterate it for the responses.
/// Dropping it (and its iterators) before the end cancels the call.
public struct ServerStreamingCall<Response: WireMessage>: AsyncSequence, Sendable {
    public typealias Element = Response

    let call: ClientCall

    /// The response headers (waits for them; throws the call's error if it failed first).
    public var responseMetadata: Metadata {
        get async throws { try await call.responseHeaders() }
    }

    /// The trailing metadata, once the responses ended.
    public var trailingMetadata: Metadata? { call.trailers }

    /// Cancels the call; the server's handler is cancelled.
    public func cancel() { call.cancel() }

    public func makeAsyncIterator() -> ResponseMessages<Response>.AsyncIterator {
        ResponseMessages<Response>(call: call).makeAsyncIterator()
    }
}
