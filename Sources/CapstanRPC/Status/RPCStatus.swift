/// The outcome of a call as gRPC carries it: a code and a human-readable message.
public struct RPCStatus: Sendable, Hashable, CustomStringConvertible {
    public var code: RPCCode
    public var message: String

    public init(code: RPCCode, message: String = "") {
        self.code = code
        self.message = message
    }

    /// `OK` with no message.
    public static let ok = RPCStatus(code: .ok)

    public var description: String {
        message.isEmpty ? code.description : "\(code): \(message)"
    }
}
