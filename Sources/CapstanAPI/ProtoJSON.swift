/// Support for the generated proto3-JSON `Codable` conformances.

/// A JSON object key, named by string.
public struct ProtoJSONKey: CodingKey, ExpressibleByStringLiteral, Sendable {
    public var stringValue: String
    public var intValue: Int? { nil }

    public init(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) { stringValue = String(intValue) }
    public init(stringLiteral value: String) { stringValue = value }
}

extension KeyedDecodingContainer where Key == ProtoJSONKey {
    /// The value at `key`, or nil when it is JSON `null` (proto3 JSON: null means the default).
    public func protoDecode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        if try decodeNil(forKey: key) { return nil }
        return try decode(type, forKey: key)
    }
}

/// Helpers the generated code calls.
public enum ProtoJSON {
    /// The error for a key the message does not have.
    public static func unknownField(
        _ key: ProtoJSONKey, in container: KeyedDecodingContainer<ProtoJSONKey>, message: String, known: [String]
    ) -> DecodingError {
        DecodingError.dataCorrupted(.init(
            codingPath: container.codingPath + [key],
            debugDescription: "unknown field \"\(key.stringValue)\" in \(message)"
                + (known.isEmpty ? " (it has no fields)" : " (fields: \(known.joined(separator: ", ")))")))
    }

    /// Throws when `container` holds more than one key of a group: a field under both its
    /// names (`containerPort` and `container_port`), or two members of one oneof. Proto3's JSON
    /// mapping refuses both.
    public static func refuseConflicts(
        in container: KeyedDecodingContainer<ProtoJSONKey>, message: String, groups: [[String]]
    ) throws {
        for group in groups {
            // A key whose value is null sets nothing, so it conflicts with nothing.
            let present = group.filter { name in
                let key = ProtoJSONKey(stringValue: name)
                return container.contains(key) && (try? container.decodeNil(forKey: key)) != true
            }
            guard present.count > 1 else { continue }
            throw DecodingError.dataCorrupted(.init(
                codingPath: container.codingPath + [ProtoJSONKey(stringValue: present[1])],
                debugDescription: "\(present.map { "\"\($0)\"" }.joined(separator: " and ")) in one \(message) "
                    + (isSpellingPair([present[0], present[1]]) ? "are one field: give it once"
                        : "are members of one oneof: give at most one")))
        }
    }

    /// Whether `group` is one field's two spellings (a lowerCamel name and its snake_case one).
    private static func isSpellingPair(_ group: [String]) -> Bool {
        group[0].filter { $0 != "_" }.lowercased() == group[1].filter { $0 != "_" }.lowercased()
    }

    /// Converts a JSON object's string keys to a map's integer or bool keys.
    public static func mapKeys<K: LosslessStringConvertible & Hashable, V>(
        _ object: [String: V], as type: K.Type, codingPath: [any CodingKey]
    ) throws -> [K: V] {
        var result: [K: V] = [:]
        for (key, value) in object {
            guard let k = K(key) else {
                throw DecodingError.dataCorrupted(.init(
                    codingPath: codingPath, debugDescription: "map key \"\(key)\" is not a \(K.self)"))
            }
            result[k] = value
        }
        return result
    }

    /// A map's keys as JSON object keys.
    public static func stringKeys<K: CustomStringConvertible & Hashable, V>(_ map: [K: V]) -> [String: V] {
        Dictionary(uniqueKeysWithValues: map.map { (String(describing: $0.key), $0.value) })
    }

    static func corrupted(_ codingPath: [any CodingKey], _ message: String) -> DecodingError {
        DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: message))
    }
}

/// A 64-bit integer as proto3 JSON writes it (a string), read from a string or a number.
public struct ProtoJSONInt64: Codable, Sendable {
    public var value: Int64
    public init(_ value: Int64) { self.value = value }
    public init(from decoder: any Decoder) throws { value = try decodeInteger(decoder) }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(String(value))
    }
}

/// An unsigned 64-bit integer as proto3 JSON writes it (a string), read from a string or a number.
public struct ProtoJSONUInt64: Codable, Sendable {
    public var value: UInt64
    public init(_ value: UInt64) { self.value = value }
    public init(from decoder: any Decoder) throws { value = try decodeInteger(decoder) }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(String(value))
    }
}

/// A 32-bit integer, written as a number, read from a number or a string.
public struct ProtoJSONInt32: Codable, Sendable {
    public var value: Int32
    public init(_ value: Int32) { self.value = value }
    public init(from decoder: any Decoder) throws { value = try decodeInteger(decoder) }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(value)
    }
}

/// An unsigned 32-bit integer, written as a number, read from a number or a string.
public struct ProtoJSONUInt32: Codable, Sendable {
    public var value: UInt32
    public init(_ value: UInt32) { self.value = value }
    public init(from decoder: any Decoder) throws { value = try decodeInteger(decoder) }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(value)
    }
}

private func decodeInteger<T: FixedWidthInteger & Decodable>(_ decoder: any Decoder) throws -> T {
    let c = try decoder.singleValueContainer()
    if let v = try? c.decode(T.self) { return v }
    if let d = try? c.decode(Double.self) {
        guard d.rounded() == d, let v = T(exactly: d) else {
            throw ProtoJSON.corrupted(decoder.codingPath, "\(d) is not a \(T.self)")
        }
        return v
    }
    let text = try c.decode(String.self)
    guard let v = T(text) else { throw ProtoJSON.corrupted(decoder.codingPath, "\"\(text)\" is not a \(T.self)") }
    return v
}

/// A double: a number, or "NaN", "Infinity", "-Infinity".
public struct ProtoJSONDouble: Codable, Sendable {
    public var value: Double
    public init(_ value: Double) { self.value = value }
    public init(from decoder: any Decoder) throws { value = try decodeFloatingPoint(decoder) }
    public func encode(to encoder: any Encoder) throws { try encodeFloatingPoint(value, encoder) }
}

/// A float: a number, or "NaN", "Infinity", "-Infinity".
public struct ProtoJSONFloat: Codable, Sendable {
    public var value: Float
    public init(_ value: Float) { self.value = value }
    public init(from decoder: any Decoder) throws { value = try decodeFloatingPoint(decoder) }
    public func encode(to encoder: any Encoder) throws { try encodeFloatingPoint(value, encoder) }
}

private func decodeFloatingPoint<T: BinaryFloatingPoint & Decodable & LosslessStringConvertible>(
    _ decoder: any Decoder
) throws -> T {
    let c = try decoder.singleValueContainer()
    if let v = try? c.decode(T.self) { return v }
    let text = try c.decode(String.self)
    switch text {
    case "NaN": return .nan
    case "Infinity": return .infinity
    case "-Infinity": return -.infinity
    default:
        guard let v = T(text) else { throw ProtoJSON.corrupted(decoder.codingPath, "\"\(text)\" is not a number") }
        return v
    }
}

private func encodeFloatingPoint<T: BinaryFloatingPoint & Encodable>(_ value: T, _ encoder: any Encoder) throws {
    var c = encoder.singleValueContainer()
    if value.isNaN {
        try c.encode("NaN")
    } else if value.isInfinite {
        try c.encode(value < 0 ? "-Infinity" : "Infinity")
    } else {
        try c.encode(value)
    }
}

/// Bytes as base64 (standard alphabet; URL-safe and unpadded input accepted).
public struct ProtoJSONBytes: Codable, Sendable {
    public var value: [UInt8]
    public init(_ value: [UInt8]) { self.value = value }
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let v = Base64.decode(text) else { throw ProtoJSON.corrupted(decoder.codingPath, "not base64") }
        value = v
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(Base64.encode(value))
    }
}
