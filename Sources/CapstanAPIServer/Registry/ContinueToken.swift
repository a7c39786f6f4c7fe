/// The continue token of a paged List: the revision of the first page and the last key sent,
/// as `<revision>.<hex of key>` (opaque to clients).
struct ContinueToken: Sendable, Hashable {
    var revision: Int64
    var lastKey: String

    var encoded: String {
        let digits = Array("0123456789abcdef")
        var hex = ""
        hex.reserveCapacity(lastKey.utf8.count * 2)
        for byte in lastKey.utf8 {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0f)])
        }
        return "\(revision).\(hex)"
    }

    /// Parses a token; `badContinueToken` when it is not one this server issued for `prefix`.
    init(parsing token: String, prefix: String) throws(RegistryError) {
        let parts = token.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let revision = Int64(parts[0]), revision > 0, parts[1].utf8.count % 2 == 0 else {
            throw .badContinueToken("\"\(token)\" is not a continue token from this server")
        }
        var bytes: [UInt8] = []
        var high: UInt8? = nil
        for character in parts[1].utf8 {
            guard let nibble = Self.nibble(character) else {
                throw .badContinueToken("\"\(token)\" is not a continue token from this server")
            }
            if let first = high {
                bytes.append(first << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        guard let key = String(validating: bytes, as: UTF8.self), key.hasPrefix(prefix) else {
            throw .badContinueToken("the token does not continue a listing of this kind and namespace")
        }
        self.revision = revision
        self.lastKey = key
    }

    init(revision: Int64, lastKey: String) {
        self.revision = revision
        self.lastKey = lastKey
    }

    private static func nibble(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}
