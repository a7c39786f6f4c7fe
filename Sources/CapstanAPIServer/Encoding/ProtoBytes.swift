/// The few pieces of the protobuf wire format the server writes and reads itself, so stored
/// objects can be answered without decoding and re-encoding them.
///
/// Every stored kind has `ObjectMeta metadata = 1` with `uint64 resource_version = 4`; every
/// `<Kind>Event` is `{EventType type = 1; <Kind> object = 2}` and every `<Kind>List`
/// `{repeated <Kind> items = 1; uint64 resource_version = 2; string continue_token = 3}` —
/// `ProtoBytesTests` checks these against the generated types.
enum ProtoBytes {
    enum WireType: UInt8 {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
        case fixed32 = 5
    }

    /// A malformed encoding.
    struct Malformed: Error {}

    static func appendVarint(_ value: UInt64, to buffer: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            buffer.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        buffer.append(UInt8(value))
    }

    static func appendTag(field: UInt64, _ type: WireType, to buffer: inout [UInt8]) {
        appendVarint(field << 3 | UInt64(type.rawValue), to: &buffer)
    }

    static func appendVarintField(_ field: UInt64, _ value: UInt64, to buffer: inout [UInt8]) {
        appendTag(field: field, .varint, to: &buffer)
        appendVarint(value, to: &buffer)
    }

    static func appendBytesField<C: Collection<UInt8>>(_ field: UInt64, _ bytes: C, to buffer: inout [UInt8]) {
        appendTag(field: field, .lengthDelimited, to: &buffer)
        appendVarint(UInt64(bytes.count), to: &buffer)
        buffer.append(contentsOf: bytes)
    }

    static func varintSize(_ value: UInt64) -> Int {
        var value = value
        var size = 1
        while value >= 0x80 {
            value >>= 7
            size += 1
        }
        return size
    }

    /// One top-level field of an encoding: its number and the byte range of the whole field
    /// (tag included) and of its payload.
    struct Field {
        var number: UInt64
        var type: WireType
        var whole: Range<Int>
        var payload: Range<Int>
    }

    /// The top-level fields of `bytes`, in order.
    static func fields(of bytes: ArraySlice<UInt8>) throws(Malformed) -> [Field] {
        var fields: [Field] = []
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let start = index
            let tag = try readVarint(bytes, &index)
            guard let type = WireType(rawValue: UInt8(tag & 7)), tag >> 3 != 0 else { throw Malformed() }
            let payloadStart: Int
            switch type {
            case .varint:
                payloadStart = index
                _ = try readVarint(bytes, &index)
            case .fixed64:
                payloadStart = index
                index += 8
            case .fixed32:
                payloadStart = index
                index += 4
            case .lengthDelimited:
                let length = try readVarint(bytes, &index)
                guard length <= UInt64(bytes.endIndex - index) else { throw Malformed() }
                payloadStart = index
                index += Int(length)
            }
            guard index <= bytes.endIndex else { throw Malformed() }
            fields.append(Field(number: tag >> 3, type: type, whole: start..<index, payload: payloadStart..<index))
        }
        return fields
    }

    static func readVarint(_ bytes: ArraySlice<UInt8>, _ index: inout Int) throws(Malformed) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.endIndex {
            let byte = bytes[index]
            index += 1
            guard shift < 64 else { throw Malformed() }
            // The tenth byte holds bit 63 only: bits past it would be dropped here, while other
            // decoders (protobuf-c's bool) still see them, so such a varint counts as malformed.
            guard shift < 63 || byte & 0x7e == 0 else { throw Malformed() }
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        throw Malformed()
    }
}

// MARK: - Objects, events and lists

extension ProtoBytes {
    /// `object` (an encoded kind with `metadata = 1`) with `metadata.resource_version` set to
    /// `revision`, and any earlier resource_version dropped. Metadata is written first.
    static func object(_ object: [UInt8], withResourceVersion revision: Int64) throws(Malformed) -> [UInt8] {
        if let appended = try appendingResourceVersion(object, revision) { return appended }
        let fields = try fields(of: object[...])
        var metadata: [UInt8] = []
        for field in fields where field.number == 1 && field.type == .lengthDelimited {
            for inner in try self.fields(of: object[field.payload]) where inner.number != 4 {
                metadata.append(contentsOf: object[inner.whole])
            }
        }
        appendVarintField(4, UInt64(revision), to: &metadata)
        var result: [UInt8] = []
        result.reserveCapacity(object.count + 12)
        appendBytesField(1, metadata, to: &result)
        for field in fields where !(field.number == 1 && field.type == .lengthDelimited) {
            result.append(contentsOf: object[field.whole])
        }
        return result
    }

    /// The common case of `object(_:withResourceVersion:)` in one copy: metadata is the first
    /// field, the only one numbered 1, and has no resource_version (how the server stores
    /// objects), so the result is `object` with its metadata length grown and the resource
    /// version appended inside. nil when that is not the shape; throws when malformed.
    private static func appendingResourceVersion(_ object: [UInt8], _ revision: Int64) throws(Malformed) -> [UInt8]? {
        let bytes = object[...]
        var index = bytes.startIndex
        guard index < bytes.endIndex, bytes[index] == 1 << 3 | WireType.lengthDelimited.rawValue else { return nil }
        index += 1
        let length = try readVarint(bytes, &index)
        guard length <= UInt64(bytes.endIndex - index) else { throw Malformed() }
        let metadata = index..<(index + Int(length))
        var inner = metadata.lowerBound
        while inner < metadata.upperBound {
            guard try skipField(bytes[..<metadata.upperBound], &inner) != 4 else { return nil }
        }
        var rest = metadata.upperBound
        while rest < bytes.endIndex {
            guard try skipField(bytes, &rest) != 1 else { return nil }
        }
        let appendedLength = UInt64(1 + varintSize(UInt64(revision)))
        var result: [UInt8] = []
        result.reserveCapacity(object.count + 12)
        result.append(bytes[bytes.startIndex])
        appendVarint(length + appendedLength, to: &result)
        result.append(contentsOf: bytes[metadata])
        appendVarintField(4, UInt64(revision), to: &result)
        result.append(contentsOf: bytes[metadata.upperBound...])
        return result
    }

    /// Steps `index` over one field of `bytes`; returns its number.
    private static func skipField(_ bytes: ArraySlice<UInt8>, _ index: inout Int) throws(Malformed) -> UInt64 {
        let tag = try readVarint(bytes, &index)
        guard let type = WireType(rawValue: UInt8(tag & 7)), tag >> 3 != 0 else { throw Malformed() }
        switch type {
        case .varint: _ = try readVarint(bytes, &index)
        case .fixed64: index += 8
        case .fixed32: index += 4
        case .lengthDelimited:
            let length = try readVarint(bytes, &index)
            guard length <= UInt64(bytes.endIndex - index) else { throw Malformed() }
            index += Int(length)
        }
        guard index <= bytes.endIndex else { throw Malformed() }
        return tag >> 3
    }

    /// A `<Kind>Event` with `type` (an `EventType` number) and `object`.
    static func event(type: Int32, object: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(object.count + 8)
        appendVarintField(1, UInt64(type), to: &result)
        appendBytesField(2, object, to: &result)
        return result
    }

    /// A BOOKMARK `<Kind>Event`: the object carries only `metadata.resource_version`.
    static func bookmarkEvent(revision: Int64) -> [UInt8] {
        var metadata: [UInt8] = []
        appendVarintField(4, UInt64(revision), to: &metadata)
        var object: [UInt8] = []
        appendBytesField(1, metadata, to: &object)
        return event(type: 4, object: object)
    }

    /// A `<Kind>List` of `items` (each an encoded object) at `revision`.
    static func list(items: [[UInt8]], revision: Int64, continueToken: String) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(items.reduce(16 + continueToken.utf8.count) { $0 + $1.count + 6 })
        for item in items { appendBytesField(1, item, to: &result) }
        if revision != 0 { appendVarintField(2, UInt64(revision), to: &result) }
        if !continueToken.isEmpty { appendBytesField(3, Array(continueToken.utf8), to: &result) }
        return result
    }

    /// The encoded size of `item` as one element of a list's `items`.
    static func listItemSize(_ item: [UInt8]) -> Int {
        1 + varintSize(UInt64(item.count)) + item.count
    }
}
