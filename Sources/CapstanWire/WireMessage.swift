public import CapstanAPI

/// Why bytes could not be decoded as a message. Every decode failure is one of these; none crashes.
public struct WireError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable {
        /// Not a valid encoding of the message: truncated, a bad length or varint, a wrong wire type.
        case malformed
        /// A string field that is not valid UTF-8.
        case invalidUTF8
        /// The decoder ran out of memory.
        case outOfMemory
        /// A valid encoding that Capstan's decoder cannot hold faithfully (see `WireScan`): a NUL
        /// in a string, a singular message field repeated, nesting over 100 deep.
        case unsupported
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// A protobuf message that converts to and from its binary encoding (through protobuf-c).
public protocol WireMessage: ProtoMessage {
    /// Decodes the binary encoding; throws `WireError` for anything that is not a valid encoding.
    init(serializedBytes bytes: UnsafeRawBufferPointer) throws(WireError)
    /// The binary encoding. Map entries are written in key order, so equal values encode equally.
    /// A string holding a NUL byte is cut there (protobuf-c keeps strings as C strings).
    func serializedBytes() -> [UInt8]
    /// The binary encoding, or `WireError.Code.unsupported` when a string holds a NUL byte
    /// rather than cutting it: what a client sends, so its data is never changed in transit.
    func wholeSerializedBytes() throws(WireError) -> [UInt8]
}

extension WireMessage {
    /// A message whose encoding cannot cut a string (one not encoded through protobuf-c) sends
    /// what `serializedBytes()` gives.
    public func wholeSerializedBytes() throws(WireError) -> [UInt8] { serializedBytes() }

    /// Decodes the binary encoding held in an array.
    public init(serializedBytes bytes: [UInt8]) throws(WireError) {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(WireError) -> Self in try Self(serializedBytes: raw) }
        }
        self = try result.get()
    }

    /// Decodes the binary encoding held in an array slice.
    public init(serializedBytes bytes: ArraySlice<UInt8>) throws(WireError) {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(WireError) -> Self in try Self(serializedBytes: raw) }
        }
        self = try result.get()
    }
}
