/// gRPC's rules for custom metadata keys and values.
enum MetadataRules {
    /// Keys owned by gRPC or HTTP/2 that applications may not set.
    static let reservedKeys: Set<String> = [
        "content-type", "te", "host", "connection", "keep-alive", "proxy-connection",
        "transfer-encoding", "upgrade",
    ]

    /// Lowercases `key` and checks it: non-empty, only `[0-9a-z_.-]`, not reserved,
    /// and ending in `-bin` exactly when the value is binary.
    static func normalizedKey(_ key: String, binary: Bool) throws(RPCError) -> String {
        let lower = key.lowercased()
        guard !lower.isEmpty else { throw invalid("metadata key is empty") }
        if lower.hasPrefix(":") {
            throw invalid("metadata key '\(key)' is an HTTP/2 pseudo-header, reserved for the transport")
        }
        if lower.hasPrefix("grpc-") {
            throw invalid("metadata key '\(key)' is reserved: 'grpc-' keys belong to gRPC itself")
        }
        if reservedKeys.contains(lower) {
            throw invalid("metadata key '\(key)' is reserved for the transport")
        }
        for byte in lower.utf8 where !isKeyByte(byte) {
            throw invalid("metadata key '\(key)' may only contain 0-9 a-z _ . -")
        }
        let isBinaryKey = lower.hasSuffix("-bin")
        if binary, !isBinaryKey {
            throw invalid("metadata key '\(key)' holds bytes, so it must end in '-bin'")
        }
        if !binary, isBinaryKey {
            throw invalid("metadata key '\(key)' ends in '-bin', so its value must be bytes")
        }
        return lower
    }

    /// ASCII values must be printable ASCII (0x20–0x7E).
    static func validateASCIIValue(_ value: String, key: String) throws(RPCError) {
        for byte in value.utf8 where byte < 0x20 || byte > 0x7E {
            throw invalid("metadata value for '\(key)' must be printable ASCII; use a '-bin' key for bytes")
        }
    }

    private static func isKeyByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }

    private static func invalid(_ message: String) -> RPCError {
        RPCError(code: .invalidArgument, message: message)
    }
}
