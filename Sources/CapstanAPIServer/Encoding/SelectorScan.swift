import CapstanAPI

/// What selectors read from a stored object — its labels and its kind's selectable fields —
/// taken straight from its encoding, without decoding the object. The watch cache needs them for
/// every object it loads at start-up and for every change another API server wrote; a full
/// decode of a pod cost about three quarters of the start-up's conversion.
///
/// It reads only the plain shape the server stores: each message field on the way at most once,
/// with the wire type its schema gives, strings valid UTF-8 without NUL bytes, no label key twice,
/// enum values the schema knows. For anything else `fields(_:)` answers nil and the caller
/// decodes in full. So for bytes that decode, both paths give the same answer
/// (`SelectorScanTests` and the `FuzzTextInputs` target compare them). Bytes that do not decode
/// (damaged elsewhere than the scan looks) may still scan: the cache then selects the object by
/// its labels, where the full decode's failure left it none.
struct SelectorScan: Sendable {
    /// How a selectable field's value is read and shown.
    enum Value: Sendable {
        case string
        /// "true" or "false".
        case bool
        /// A `PodPhase`, as `PodPhase.selectorValue` shows it.
        case podPhase
    }

    /// A selectable field beyond `metadata.name` and `metadata.namespace`: its name in field
    /// selectors and the field numbers leading to it from the object (a message, then a scalar).
    struct Extra: Sendable {
        var name: String
        var path: (message: UInt64, field: UInt64)
        var value: Value
    }

    /// After the metadata fields, in the order of the kind's `selectableFieldValues`.
    var extras: [Extra] = []

    /// The selector fields of `bytes`, or nil when they are not in the plain shape.
    func fields(_ bytes: [UInt8]) -> SelectorFields? {
        do throws(ProtoBytes.Malformed) {
            return try scan(bytes[...])
        } catch {
            return nil
        }
    }

    private func scan(_ bytes: ArraySlice<UInt8>) throws(ProtoBytes.Malformed) -> SelectorFields? {
        var metadata: Range<Int>?
        var messages: [Range<Int>?] = Array(repeating: nil, count: extras.count)
        var top = Cursor(bytes, bytes.indices)
        while let field = try top.next() {
            if field.number == 1 {
                guard field.type == .lengthDelimited, metadata == nil else { return nil }
                metadata = field.payload
            }
            for (index, extra) in extras.enumerated() where extra.path.message == field.number {
                guard field.type == .lengthDelimited, messages[index] == nil else { return nil }
                messages[index] = field.payload
            }
        }
        var name: String?
        var namespace: String?
        var labels: [String: String] = [:]
        if let metadata {
            var fields = Cursor(bytes, metadata)
            while let field = try fields.next() {
                switch field.number {
                case 1:
                    guard name == nil, let value = Self.string(field, bytes) else { return nil }
                    name = value
                case 2:
                    guard namespace == nil, let value = Self.string(field, bytes) else { return nil }
                    namespace = value
                case 6:
                    guard field.type == .lengthDelimited else { return nil }
                    var key: String?
                    var value: String?
                    var entry = Cursor(bytes, field.payload)
                    while let part = try entry.next() {
                        if part.number == 1 {
                            guard key == nil, let text = Self.string(part, bytes) else { return nil }
                            key = text
                        } else if part.number == 2 {
                            guard value == nil, let text = Self.string(part, bytes) else { return nil }
                            value = text
                        }
                    }
                    guard labels.updateValue(value ?? "", forKey: key ?? "") == nil else { return nil }
                default: break
                }
            }
        }
        var values = FieldValues([.init("metadata.name", name ?? ""), .init("metadata.namespace", namespace ?? "")])
        values.fields.reserveCapacity(2 + extras.count)
        for (index, extra) in extras.enumerated() {
            var found: Cursor.Field?
            if let message = messages[index] {
                var fields = Cursor(bytes, message)
                while let field = try fields.next() {
                    guard field.number == extra.path.field else { continue }
                    guard found == nil else { return nil }
                    found = field
                }
            }
            guard let shown = Self.show(extra.value, found, bytes) else { return nil }
            values.fields.append(.init(extra.name, shown))
        }
        return SelectorFields(labels: labels, fields: values)
    }

    /// How `value` shows `field` (its default when absent); nil when not in the plain shape.
    private static func show(_ value: Value, _ field: Cursor.Field?, _ bytes: ArraySlice<UInt8>) -> String? {
        switch value {
        case .string:
            guard let field else { return "" }
            return string(field, bytes)
        case .bool:
            guard let field else { return "false" }
            guard field.type == .varint, field.varint <= 1 else { return nil }
            return field.varint == 1 ? "true" : "false"
        case .podPhase:
            var raw: UInt64 = 0
            if let field {
                guard field.type == .varint else { return nil }
                raw = field.varint
            }
            let phase = PodPhase(rawValue: Int32(truncatingIfNeeded: raw))
            if case .unrecognized = phase { return nil }
            return PodPhase.selectorValue(phase)
        }
    }

    /// A string field's text; nil for another wire type, invalid UTF-8 or a NUL byte.
    private static func string(_ field: Cursor.Field, _ bytes: ArraySlice<UInt8>) -> String? {
        guard field.type == .lengthDelimited else { return nil }
        let raw = bytes[field.payload]
        var ascii = true
        for byte in raw {
            if byte == 0 { return nil }
            if byte >= 0x80 { ascii = false }
        }
        let text = String(decoding: raw, as: UTF8.self)
        // Decoding repairs invalid UTF-8: a repaired string's bytes differ from the raw ones.
        if !ascii, !text.utf8.elementsEqual(raw) { return nil }
        return text
    }

    /// Steps through the fields of one message without collecting them.
    struct Cursor {
        struct Field {
            var number: UInt64
            var type: ProtoBytes.WireType
            var payload: Range<Int>
            /// The value of a varint field (0 for other types).
            var varint: UInt64
        }

        let bytes: ArraySlice<UInt8>
        var index: Int
        let end: Int

        init(_ bytes: ArraySlice<UInt8>, _ range: Range<Int>) {
            self.bytes = bytes
            index = range.lowerBound
            end = range.upperBound
        }

        mutating func next() throws(ProtoBytes.Malformed) -> Field? {
            guard index < end else { return nil }
            let scope = bytes[..<end]
            let tag = try ProtoBytes.readVarint(scope, &index)
            guard let type = ProtoBytes.WireType(rawValue: UInt8(tag & 7)), tag >> 3 != 0 else {
                throw ProtoBytes.Malformed()
            }
            var payloadStart = index
            var varint: UInt64 = 0
            switch type {
            case .varint: varint = try ProtoBytes.readVarint(scope, &index)
            case .fixed64: index += 8
            case .fixed32: index += 4
            case .lengthDelimited:
                let length = try ProtoBytes.readVarint(scope, &index)
                guard length <= UInt64(end - index) else { throw ProtoBytes.Malformed() }
                payloadStart = index
                index += Int(length)
            }
            guard index <= end else { throw ProtoBytes.Malformed() }
            return Field(number: tag >> 3, type: type, payload: payloadStart..<index, varint: varint)
        }
    }
}
