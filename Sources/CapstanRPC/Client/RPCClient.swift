import CapstanWire
import Synchronization

/// Makes typed calls over a `ClientTransport`. Cancelling the calling task cancels the call.
/// A failed call throws `RPCError` with the server's code, message, details and trailers.
public struct RPCClient: Sendable {
    public let transport: any ClientTransport
    /// Applied to every call, outermost first.
    public let interceptors: [any ClientInterceptor]

    public init(transport: any ClientTransport, interceptors: [any ClientInterceptor] = []) {
        self.transport = transport
        self.interceptors = interceptors
    }

    public func unary<Req, Res>(
        _ m: MethodDescriptor<Req, Res>,
        _ request: Req,
        options: CallOptions = .default
    ) async throws -> Res {
        let bytes = try MessageCodec.encodeRequest(request, path: m.path)
        let call = try await open(m.erased, options)
        try await call.send(bytes)
        call.closeSend()
        return try await call.singleResponse(Res.self)
    }

    public func serverStreaming<Req, Res>(
        _ m: MethodDescriptor<Req, Res>,
        _ request: Req,
        options: CallOptions = .default
    ) async throws -> ServerStreamingCall<Res> {
        let bytes = try MessageCodec.encodeRequest(request, path: m.path)
        let call = try await open(m.erased, options)
        try await call.send(bytes)
        call.closeSend()
        return ServerStreamingCall(call: call)
    }

    public func clientStreaming<Req, Res>(
        _ m: MethodDescriptor<Req, Res>,
        options: CallOptions = .default
    ) async throws -> ClientStreamingCall<Req, Res> {
        ClientStreamingCall(call: try await open(m.erased, options))
    }

    public func bidirectional<Req, Res>(
        _ m: MethodDescriptor<Req, Res>,
        options: CallOptions = .default
    ) async throws -> BidirectionalCall<Req, Res> {
        BidirectionalCall(call: try await open(m.erased, options))
    }

    /// Runs the interceptors and opens the stream.
    private func open(_ method: AnyMethodDescriptor, _ options: CallOptions) async throws(RPCError) -> ClientCall {
        let head = ClientRequestHead(
            method: method,
            metadata: options.metadata,
            deadline: options.timeout.map { ContinuousClock.now.advanced(by: $0) }
        )
        let transport = transport
        // Interceptors may move the deadline: enforce the one the stream is opened with.
        let openedDeadline = DeadlineBox()
        var next: @Sendable (ClientRequestHead) async throws -> ClientTransportStream = { head in
            openedDeadline.value.withLock { $0 = head.deadline }
            return try await transport.openStream(path: head.method.path, metadata: head.metadata, deadline: head.deadline)
        }
        for interceptor in interceptors.reversed() {
            let inner = next
            next = { head in try await interceptor.intercept(head, next: inner) }
        }
        do {
            let stream = try await next(head)
            return ClientCall(path: method.path, stream: stream, deadline: openedDeadline.value.withLock { $0 })
        } catch {
            throw RPCError(converting: error)
        }
    }
}

/// The deadline the innermost interceptor step opened the stream with.
private final class DeadlineBox: Sendable {
    let value = Mutex<ContinuousClock.Instant?>(nil)
}
