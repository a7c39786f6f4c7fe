import CapstanAPI

/// Base64 as gRPC puts it in headers: emitted without padding, accepted with or without.
enum GRPCBase64 {
    /// `bytes` in standard base64 without trailing `=`.
    static func encodeUnpadded(_ bytes: [UInt8]) -> String {
        var text = Base64.encode(bytes)
        while text.utf8.last == UInt8(ascii: "=") { text.removeLast() }
        return text
    }

    /// The bytes of padded or unpadded base64 `text`, or nil when it is not base64.
    static func decode(_ text: String) -> [UInt8]? {
        Base64.decode(text)
    }
}
