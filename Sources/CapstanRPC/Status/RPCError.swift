/// A failed call: the status, optional `google.rpc.Status` bytes and trailing metadata.
public struct RPCError: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: RPCCode
    public var message: String
    /// Serialized `google.rpc.Status`, carried as `grpc-status-details-bin`.
    public var details: [UInt8]?
    /// Trailing metadata sent with the status.
    public var trailers: Metadata

    public init(code: RPCCode, message: String, details: [UInt8]? = nil, trailers: Metadata = Metadata()) {
        self.code = code
        self.message = message
        self.details = details
        self.trailers = trailers
    }

    /// Converts any error: `RPCError` as is, `RPCErrorConvertible` through its conversion,
    /// `CancellationError` to `CANCELLED`, anything else to `UNKNOWN` with its description.
    public init(converting error: any Error) {
        switch error {
        case let error as RPCError:
            self = error
        case let error as any RPCErrorConvertible:
            self = error.rpcError
        case is CancellationError:
            self.init(code: .cancelled, message: "the call was cancelled")
        default:
            self.init(code: .unknown, message: String(describing: error))
        }
    }

    public var status: RPCStatus { RPCStatus(code: code, message: message) }

    public var description: String { status.description }
}

/// A domain error that knows its gRPC status (the module's one mapping table lives in its conformance).
public protocol RPCErrorConvertible: Error {
    var rpcError: RPCError { get }
}
