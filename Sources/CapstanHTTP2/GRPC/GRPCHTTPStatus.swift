import CapstanRPC

/// gRPC's mapping from an HTTP status to a status code, for responses that carry no
/// `grpc-status` (doc/http-grpc-status-mapping.md). Never used in the other direction.
enum GRPCHTTPStatus {
    /// The code for HTTP status `status`.
    static func code(for status: Int) -> RPCCode {
        switch status {
        case 400, 431: .internal
        case 401: .unauthenticated
        case 403: .permissionDenied
        case 404: .unimplemented
        case 429, 502, 503, 504: .unavailable
        default: .unknown
        }
    }

    /// The status for a response with HTTP status `status` and no `grpc-status`.
    static func rpcStatus(for status: Int) -> RPCStatus {
        RPCStatus(code: code(for: status), message: "received HTTP status \(status) instead of a gRPC response")
    }
}
