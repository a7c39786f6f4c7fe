/// The `content-type` of gRPC: `application/grpc`, optionally with a `+subtype` (`+proto`) or
/// parameters (`;…`).
enum GRPCContentType {
    /// What we send.
    static let value = "application/grpc"

    /// Whether `contentType` names gRPC (case-insensitive; `application/grpcfoo` does not).
    static func isGRPC(_ contentType: String) -> Bool {
        isGRPC(contentType.utf8)
    }

    /// `isGRPC` on the bytes of the value.
    static func isGRPC(_ contentType: some Sequence<UInt8>) -> Bool {
        // Compared byte by byte, ASCII case-insensitively, so no lower-cased copy is made.
        var text = contentType.makeIterator()
        for expected in value.utf8 {
            guard let byte = text.next() else { return false }
            let lower = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
            guard lower == expected else { return false }
        }
        guard let next = text.next() else { return true }
        return next == UInt8(ascii: "+") || next == UInt8(ascii: ";")
    }
}
