/// Runs around every routed call, outermost first (auth, logging, metrics).
public protocol ServerInterceptor: Sendable {
    /// Inspect `context`, throw an `RPCError` to reject the call, or call `next` (with the same
    /// or a changed context) to continue; errors the handler throws come out of `next`.
    /// Task-local values bound around `next` are visible to the handler.
    func intercept(
        _ context: ServerContext,
        next: @Sendable (ServerContext) async throws -> Void
    ) async throws
}
