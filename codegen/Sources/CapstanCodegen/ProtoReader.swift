/// A minimal reader and writer of the protobuf binary format, just enough for the generator to
/// decode protoc's `CodeGeneratorRequest` and encode its `CodeGeneratorResponse`.
///
/// The generator deliberately carries its own few hundred lines of wire parsing instead of linking
/// its own output: it must run before any generated code exists, and it needs the exact bytes of
/// each `FileDescriptorProto` to embed for server reflection.

/// An error in the bytes protoc handed us.
public struct CodegenError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Protobuf wire types.
enum WireType: UInt8 {
    case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5
}

/// Reads one field after another from a byte slice.
struct ProtoReader {
    private let bytes: [UInt8]
    private var index: Int
    private let end: Int

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.index = 0
        self.end = bytes.count
    }

    init(_ bytes: ArraySlice<UInt8>) {
        self.init(Array(bytes))
    }

    /// The next field's number and wire type, or nil at the end.
    mutating func nextField() throws -> (number: Int, type: WireType)? {
        guard index < end else { return nil }
        let key = try readVarint()
        guard let type = WireType(rawValue: UInt8(key & 7)) else {
            throw CodegenError("unknown wire type \(key & 7) at byte \(index)")
        }
        let number = Int(key >> 3)
        guard number > 0 else { throw CodegenError("field number 0 at byte \(index)") }
        return (number, type)
    }

    mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard index < end else { throw CodegenError("truncated varint") }
            let byte = bytes[index]
            index += 1
            guard shift < 64 else { throw CodegenError("varint longer than 10 bytes") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    mutating func readBytes() throws -> ArraySlice<UInt8> {
        let length = try readVarint()
        guard length <= UInt64(end - index) else { throw CodegenError("length \(length) runs past the end") }
        let slice = bytes[index..<(index + Int(length))]
        index += Int(length)
        return slice
    }

    mutating func readString() throws -> String {
        String(decoding: try readBytes(), as: UTF8.self)
    }

    mutating func readInt32() throws -> Int32 {
        Int32(truncatingIfNeeded: try readVarint())
    }

    mutating func readBool() throws -> Bool {
        try readVarint() != 0
    }

    /// Reads a repeated int32 field, packed or not.
    mutating func readInt32s(_ type: WireType) throws -> [Int32] {
        if type == .varint { return [try readInt32()] }
        var inner = ProtoReader(try readBytes())
        var values: [Int32] = []
        while inner.index < inner.end { values.append(try inner.readInt32()) }
        return values
    }

    mutating func skip(_ type: WireType) throws {
        switch type {
        case .varint: _ = try readVarint()
        case .fixed64: try advance(8)
        case .fixed32: try advance(4)
        case .lengthDelimited: _ = try readBytes()
        case .startGroup, .endGroup: throw CodegenError("groups are not supported")
        }
    }

    private mutating func advance(_ count: Int) throws {
        guard end - index >= count else { throw CodegenError("truncated fixed-width field") }
        index += count
    }
}

/// Appends fields in the protobuf binary format.
struct ProtoWriter {
    private(set) var bytes: [UInt8] = []

    mutating func writeVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func writeKey(_ number: Int, _ type: WireType) {
        writeVarint(UInt64(number) << 3 | UInt64(type.rawValue))
    }

    mutating func writeBytes<C: Collection<UInt8>>(_ number: Int, _ value: C) {
        writeKey(number, .lengthDelimited)
        writeVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func writeString(_ number: Int, _ value: String) {
        writeBytes(number, Array(value.utf8))
    }

    mutating func writeUInt64(_ number: Int, _ value: UInt64) {
        writeKey(number, .varint)
        writeVarint(value)
    }
}
