/// A minimal reader of the protobuf binary encoding, enough to walk descriptor messages without
/// generated code for `descriptor.proto`: it splits a message into its fields and leaves their
/// interpretation to the caller.
enum ProtoWireReader {
    /// The bytes are not a valid protobuf encoding (truncated, bad varint or length, group or
    /// unknown wire type).
    struct Malformed: Error, Hashable, Sendable {}

    enum Value: Hashable, Sendable {
        case varint(UInt64)
        case lengthDelimited(ArraySlice<UInt8>)
        case fixed
    }

    /// The fields of one message, in encoding order.
    struct Fields: Sendable {
        fileprivate(set) var entries: [(number: Int, value: Value)] = []

        /// The last occurrence of a string field (proto3 "last one wins"); throws for invalid UTF-8.
        func string(_ number: Int) throws(Malformed) -> String? {
            guard case .lengthDelimited(let bytes)? = entries.last(where: { $0.number == number })?.value else {
                return nil
            }
            guard let string = String(validating: bytes, as: UTF8.self) else { throw Malformed() }
            return string
        }

        /// Every occurrence of a repeated message (or bytes) field.
        func messages(_ number: Int) -> [ArraySlice<UInt8>] {
            entries.compactMap { entry in
                guard entry.number == number, case .lengthDelimited(let bytes) = entry.value else { return nil }
                return bytes
            }
        }

        /// The last occurrence of a varint field.
        func varint(_ number: Int) -> UInt64? {
            guard case .varint(let value)? = entries.last(where: { $0.number == number })?.value else { return nil }
            return value
        }
    }

    /// Splits `bytes` into fields.
    static func fields(of bytes: ArraySlice<UInt8>) throws(Malformed) -> Fields {
        var fields = Fields()
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let key = try varint(bytes, &index)
            let number = key >> 3
            guard number > 0, number <= 536_870_911 else { throw Malformed() }
            switch key & 7 {
            case 0:
                fields.entries.append((Int(number), .varint(try varint(bytes, &index))))
            case 1, 5:
                let width = key & 7 == 1 ? 8 : 4
                guard bytes.endIndex - index >= width else { throw Malformed() }
                index += width
                fields.entries.append((Int(number), .fixed))
            case 2:
                let length = try varint(bytes, &index)
                guard length <= UInt64(bytes.endIndex - index) else { throw Malformed() }
                let end = index + Int(length)
                fields.entries.append((Int(number), .lengthDelimited(bytes[index..<end])))
                index = end
            default:
                throw Malformed()
            }
        }
        return fields
    }

    private static func varint(_ bytes: ArraySlice<UInt8>, _ index: inout Int) throws(Malformed) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.endIndex, shift < 64 {
            let byte = bytes[index]
            index += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        throw Malformed()
    }
}
