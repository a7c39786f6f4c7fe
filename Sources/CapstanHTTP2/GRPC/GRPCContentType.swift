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

    /// Whether a gRPC `contentType` names a message format other than protobuf
    /// (`application/grpc+json`); `application/grpc`, `+proto` and parameters alone do not.
    static func namesOtherFormat(_ contentType: some Collection<UInt8>) -> Bool {
        let rest = contentType.dropFirst(value.utf8.count)
        guard rest.first == UInt8(ascii: "+") else { return false }
        let subtype = rest.dropFirst().prefix { $0 != UInt8(ascii: ";") && $0 != UInt8(ascii: " ") }
        let proto = "proto".utf8
        return subtype.count != proto.count
            || !zip(subtype, proto).allSatisfy { ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 + 32 : $0) == $1 }
    }
}
