/// The `content-type` of gRPC: `application/grpc`, optionally with a `+subtype` (`+proto`) or
/// parameters (`;…`).
enum GRPCContentType {
    /// What we send.
    static let value = "application/grpc"

    /// Whether `contentType` names gRPC (case-insensitive; `application/grpcfoo` does not).
    static func isGRPC(_ contentType: String) -> Bool {
        let lower = contentType.lowercased()
        guard lower.hasPrefix(value) else { return false }
        let rest = lower.utf8.dropFirst(value.utf8.count)
        guard let next = rest.first else { return true }
        return next == UInt8(ascii: "+") || next == UInt8(ascii: ";")
    }
}
