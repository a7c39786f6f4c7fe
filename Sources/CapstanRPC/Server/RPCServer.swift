/// Serves the streams of a `ServerTransport` with a router and interceptors.
public struct RPCServer: Sendable {
    public let router: RPCRouter
    /// Applied to every routed call, outermost first.
    public let interceptors: [any ServerInterceptor]

    public init(router: RPCRouter, interceptors: [any ServerInterceptor] = []) {
        self.router = router
        self.interceptors = interceptors
    }

    /// Serves every stream `transport` accepts until it shuts down.
    public func serve(on transport: any ServerTransport) async throws {
        try await transport.listen { stream in
            await self.handle(stream)
        }
    }

    /// Serves one stream to completion: routes it, runs interceptors and handler, enforces the
    /// deadline, and always ends the stream with a status. Cancelling the calling task (the
    /// peer reset the stream) cancels the handler.
    public func handle(_ stream: ServerTransportStream) async {
        switch router.route(for: stream.path) {
        case nil:
            let error = router.unknownPathError(stream.path)
            stream.writer.finish(status: error.status, details: error.details, trailers: error.trailers)
        case .fixed(let error)?:
            stream.writer.finish(status: error.status, details: error.details, trailers: error.trailers)
        case .method(let descriptor, let handler)?:
            let call = ServerCall(writer: stream.writer)
            let context = ServerContext(
                method: descriptor,
                metadata: stream.metadata,
                deadline: stream.deadline,
                peer: stream.peer,
                call: call
            )
            let requests = stream.requests
            let chain = intercepted { context in try await handler(requests, call, context) }
            await withTaskCancellationHandler {
                await ServerCallRunner.run(call: call, deadline: stream.deadline) { try await chain(context) }
            } onCancel: {
                call.markCancelled()
            }
        }
    }

    private func intercepted(
        _ handler: @escaping @Sendable (ServerContext) async throws -> Void
    ) -> @Sendable (ServerContext) async throws -> Void {
        var next = handler
        for interceptor in interceptors.reversed() {
            let inner = next
            next = { context in try await interceptor.intercept(context, next: inner) }
        }
        return next
    }
}
