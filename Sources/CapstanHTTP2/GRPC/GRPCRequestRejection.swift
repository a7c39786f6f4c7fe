import CapstanRPC

/// Why a server refuses a request before it reaches a handler, and how it answers.
enum GRPCRequestRejection: Error, Hashable, Sendable {
    /// Not a gRPC request at all: answer with this HTTP status (and the message as a plain body),
    /// e.g. 415 for a non-gRPC content type, 405 for a method other than POST, 400 without `:path`.
    case http(status: Int, message: String)
    /// A gRPC request the server cannot serve: answer trailers-only with this status, adding
    /// `grpc-accept-encoding` when `acceptEncoding` is set (an unsupported `grpc-encoding`).
    case grpc(RPCStatus, acceptEncoding: String?)
}
