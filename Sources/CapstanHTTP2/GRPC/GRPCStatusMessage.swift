/// The `grpc-message` header: UTF-8 text, percent-encoded.
///
/// Every byte outside printable ASCII (0x20–0x7E) and `%` itself becomes `%XX` (upper-case hex).
enum GRPCStatusMessage {
    /// `message` as a header value.
    static func encode(_ message: String) -> String {
        let utf8 = message.utf8
        guard utf8.contains(where: needsEscaping) else { return message }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count + utf8.count / 2)
        for byte in utf8 {
            if needsEscaping(byte) {
                out.append(UInt8(ascii: "%"))
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            } else {
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `message`, cut so that its encoding (`encode`) takes at most `maxEncodedCount` bytes:
    /// whole UTF-8 characters are kept while they and the note that ends the cut text,
    /// "… (N more bytes)" (N counts the UTF-8 bytes left out), fit. A message that fits is
    /// returned as it is.
    static func truncated(_ message: String, maxEncodedCount: Int) -> String {
        let utf8 = message.utf8
        // Every byte encodes to at most 3.
        guard utf8.count * 3 > maxEncodedCount else { return message }
        var encodedCount = 0
        for byte in utf8 { encodedCount += needsEscaping(byte) ? 3 : 1 }
        guard encodedCount > maxEncodedCount else { return message }
        // The note: "…" encodes to 9 bytes, " (" and " more bytes)" are 14, N at most 20 digits.
        let budget = maxEncodedCount - 43
        // Bytes before a character's first byte are whole characters.
        var keptBytes = 0
        var encoded = 0
        for (index, byte) in utf8.enumerated() {
            if byte & 0xC0 != 0x80 {
                guard encoded <= budget else { break }
                keptBytes = index
            }
            encoded += needsEscaping(byte) ? 3 : 1
        }
        let kept = String(decoding: utf8.prefix(keptBytes), as: UTF8.self)
        return "\(kept)… (\(utf8.count - keptBytes) more bytes)"
    }

    /// The text a header value carries. Lenient, as gRPC requires: a `%` not followed by two hex
    /// digits is kept as is, and bytes that do not form UTF-8 become U+FFFD.
    static func decode(_ value: String) -> String {
        let bytes = Array(value.utf8)
        guard bytes.contains(UInt8(ascii: "%")) else { return value }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
               let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    private static func needsEscaping(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte > 0x7E || byte == UInt8(ascii: "%")
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
