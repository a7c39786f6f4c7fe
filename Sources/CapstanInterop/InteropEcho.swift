import CapstanRPC

/// The interop server's echo features: metadata the client asks to get back, and the status a
/// request asks the call to end with.
public enum InteropEcho {
    /// ASCII request metadata the server returns as a response header, unchanged.
    public static let initialMetadataKey = "x-grpc-test-echo-initial"
    /// Binary request metadata the server returns as a trailer, unchanged.
    public static let trailingMetadataKey = "x-grpc-test-echo-trailing-bin"

    /// Copies the echo keys the client sent: `initialMetadataKey` into the response headers,
    /// `trailingMetadataKey` into the trailers (sent with any status, error or not).
    static func echoMetadata(_ context: ServerContext) throws(RPCError) {
        if let value = context.metadata.first(initialMetadataKey) {
            var headers = Metadata()
            try headers.add(initialMetadataKey, value)
            try context.addResponseHeaders(headers)
        }
        if let bytes = context.metadata.firstBinary(trailingMetadataKey) {
            var trailers = Metadata()
            try trailers.add(trailingMetadataKey, binary: bytes)
            context.addTrailingMetadata(trailers)
        }
    }

    /// The error a request's `response_status` asks for; `nil` when it is absent or its code is
    /// 0 (OK), which the reference servers treat as "no status requested". A code gRPC does not
    /// define becomes `UNKNOWN`, as on the wire.
    static func requestedError(_ status: Grpc_Testing_EchoStatus?) -> RPCError? {
        guard let status, status.code != 0 else { return nil }
        return RPCError(code: RPCCode(wireValue: Int(status.code)), message: status.message)
    }
}
