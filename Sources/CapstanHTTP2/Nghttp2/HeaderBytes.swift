import Glibc

/// One header name or value as nghttp2 hands it over: bytes that are valid only during the
/// header callback (`SessionDelegate.sessionHeader`). Parsers read them in place and make a
/// `String` only of what they keep, so a header field the server merely checks (`:method`,
/// `content-type`, `te`, `user-agent`, …) costs no allocation and no reference counting.
///
/// A `HeaderBytes` must not outlive the call that received it (it points into nghttp2's buffer).
struct HeaderBytes: RandomAccessCollection {
    private let bytes: UnsafeRawBufferPointer

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    init(_ start: UnsafePointer<UInt8>?, count: Int) {
        bytes = UnsafeRawBufferPointer(start: start, count: count)
    }

    /// Calls `body` with the UTF-8 bytes of `text` (for header blocks held as `String`s).
    static func with<Result>(_ text: String, _ body: (HeaderBytes) -> Result) -> Result {
        var text = text
        return text.withUTF8 { body(HeaderBytes(UnsafeRawBufferPointer($0))) }
    }

    var startIndex: Int { 0 }
    var endIndex: Int { bytes.count }
    var count: Int { bytes.count }

    subscript(position: Int) -> UInt8 { bytes[position] }

    /// Whether the bytes are exactly `literal`'s.
    func equals(_ literal: StaticString) -> Bool {
        guard literal.utf8CodeUnitCount == bytes.count else { return false }
        return bytes.count == 0 || memcmp(bytes.baseAddress!, literal.utf8Start, bytes.count) == 0
    }

    /// Whether the bytes are exactly the UTF-8 of `text`.
    func equals(_ text: String) -> Bool {
        guard text.utf8.count == bytes.count else { return false }
        guard bytes.count > 0 else { return true }
        if let equal = text.utf8.withContiguousStorageIfAvailable({ memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }) {
            return equal
        }
        return text.utf8.elementsEqual(self)
    }

    /// Whether the bytes start with `literal`'s.
    func hasPrefix(_ literal: StaticString) -> Bool {
        let length = literal.utf8CodeUnitCount
        return length <= bytes.count && (length == 0 || memcmp(bytes.baseAddress!, literal.utf8Start, length) == 0)
    }

    /// Whether the bytes end with `literal`'s.
    func hasSuffix(_ literal: StaticString) -> Bool {
        let length = literal.utf8CodeUnitCount
        return length <= bytes.count
            && (length == 0 || memcmp(bytes.baseAddress! + (bytes.count - length), literal.utf8Start, length) == 0)
    }

    /// The bytes as text (invalid UTF-8 repaired, as `String(decoding:as:)` does).
    var string: String { String(decoding: bytes, as: UTF8.self) }
}

/// Recent header texts longer than a small string, reused instead of allocating again (a
/// connection's requests repeat their `:path`, its responses their `content-type`, …).
struct HeaderTextCache {
    private var texts: [String] = []
    private var cursor = 0
    /// How many texts are kept.
    private static let capacity = 16

    init() {}

    /// The text of `bytes`, the cached one when an equal text is there.
    mutating func text(_ bytes: HeaderBytes) -> String {
        // Up to 15 UTF-8 bytes are stored inline in a String, without an allocation.
        guard bytes.count > 15, bytes.count <= 256 else { return bytes.string }
        for candidate in texts where bytes.equals(candidate) { return candidate }
        let text = bytes.string
        if texts.count < Self.capacity {
            texts.append(text)
        } else {
            texts[cursor] = text
            cursor = (cursor + 1) % Self.capacity
        }
        return text
    }
}
