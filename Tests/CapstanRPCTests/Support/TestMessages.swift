import CapstanWire

/// A test message whose encoding is its UTF-8 text; other bytes fail to decode.
struct Text: WireMessage, ExpressibleByStringLiteral {
    static let protoMessageName = "capstan.test.Text"
    var value: String

    init() { value = "" }
    init(_ value: String) { self.value = value }
    init(stringLiteral value: String) { self.value = value }

    init(serializedBytes bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard let value = String(validating: bytes, as: UTF8.self) else {
            throw WireError(.malformed, "capstan.test.Text is not valid UTF-8")
        }
        self.value = value
    }

    func serializedBytes() -> [UInt8] { Array(value.utf8) }
}

/// A test message carrying arbitrary bytes (used to send what `Text` cannot decode).
struct Blob: WireMessage {
    static let protoMessageName = "capstan.test.Blob"
    var bytes: [UInt8]

    init() { bytes = [] }
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    init(serializedBytes bytes: UnsafeRawBufferPointer) throws(WireError) {
        self.bytes = Array(bytes)
    }

    func serializedBytes() -> [UInt8] { bytes }
}
