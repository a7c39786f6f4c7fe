import CapstanRPC

/// What a server learns from a valid gRPC request's headers.
struct GRPCRequestHead: Sendable {
    /// `:path`, `/Service/Method`.
    var path: String
    /// `:authority`, if sent.
    var authority: String?
    /// `grpc-timeout`; nil means no deadline.
    var timeout: Duration?
    /// The custom metadata.
    var metadata: Metadata
    /// `user-agent`, if sent.
    var userAgent: String?
}
