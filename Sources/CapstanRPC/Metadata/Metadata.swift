/// Custom call metadata: an ordered multi-map of ASCII and binary (`-bin`) entries.
///
/// Keys are case-insensitive and stored lowercase. Every entry is validated when added, so a
/// `Metadata` value always holds only what an application may send: gRPC's and HTTP/2's own keys
/// (`grpc-*`, pseudo-headers, `content-type`, `te`, …) are refused.
public struct Metadata: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    /// One value: text for ordinary keys, bytes for `-bin` keys.
    public enum Value: Sendable, Hashable, ExpressibleByStringLiteral, CustomStringConvertible {
        case string(String)
        case binary([UInt8])

        public init(stringLiteral value: String) { self = .string(value) }

        public var description: String {
            switch self {
            case .string(let text): text
            case .binary(let bytes): "<\(bytes.count) bytes>"
            }
        }
    }

    /// One key/value pair; `key` is lowercase.
    public struct Entry: Sendable, Hashable {
        public let key: String
        public let value: Value
    }

    private var entries: [Entry] = []

    public init() {}

    /// Literal metadata; an invalid literal key is a programming error and traps.
    public init(dictionaryLiteral elements: (String, Value)...) {
        for (key, value) in elements {
            do {
                try add(key, value)
            } catch {
                preconditionFailure(error.message)
            }
        }
    }

    /// Appends an entry after validating it (see the type's rules).
    public mutating func add(_ key: String, _ value: Value) throws(RPCError) {
        switch value {
        case .string(let text):
            let normalized = try MetadataRules.normalizedKey(key, binary: false)
            try MetadataRules.validateASCIIValue(text, key: normalized)
            entries.append(Entry(key: normalized, value: value))
        case .binary:
            let normalized = try MetadataRules.normalizedKey(key, binary: true)
            entries.append(Entry(key: normalized, value: value))
        }
    }

    /// Appends an ASCII entry.
    public mutating func add(_ key: String, _ value: String) throws(RPCError) {
        try add(key, .string(value))
    }

    /// Appends a binary entry; `key` must end in `-bin`.
    public mutating func add(_ key: String, binary value: [UInt8]) throws(RPCError) {
        try add(key, .binary(value))
    }

    /// Appends an entry the caller already checked against the rules (a transport decoding header
    /// fields it validated byte by byte): `key` lowercase, allowed and not reserved, ending in `-bin`
    /// exactly for binary values; ASCII values printable.
    package mutating func appendValidated(_ key: String, _ value: Value) {
        entries.append(Entry(key: key, value: value))
    }

    /// Appends every entry of `other` (already validated), keeping order.
    public mutating func merge(_ other: Metadata) {
        entries.append(contentsOf: other.entries)
    }

    /// Removes every entry for `key`.
    public mutating func removeAll(_ key: String) {
        let lower = Self.lowercased(key)
        entries.removeAll { $0.key == lower }
    }

    /// Every value for `key`, in insertion order.
    public subscript(key: String) -> [Value] {
        let lower = Self.lowercased(key)
        return entries.compactMap { $0.key == lower ? $0.value : nil }
    }

    /// The first ASCII value for `key`.
    public func first(_ key: String) -> String? {
        guard !entries.isEmpty else { return nil }
        let lower = Self.lowercased(key)
        for entry in entries where entry.key == lower {
            if case .string(let text) = entry.value { return text }
        }
        return nil
    }

    /// The first binary value for `key` (which ends in `-bin`).
    public func firstBinary(_ key: String) -> [UInt8]? {
        guard !entries.isEmpty else { return nil }
        let lower = Self.lowercased(key)
        for entry in entries where entry.key == lower {
            if case .binary(let bytes) = entry.value { return bytes }
        }
        return nil
    }

    /// `key` in lower case; the same string (no copy) when it has no upper-case ASCII letter.
    private static func lowercased(_ key: String) -> String {
        let isLower: (UInt8) -> Bool = { $0 < 0x80 && !($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z")) }
        let alreadyLower = key.utf8.withContiguousStorageIfAvailable { $0.allSatisfy(isLower) }
            ?? key.utf8.allSatisfy(isLower)
        return alreadyLower ? key : key.lowercased()
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    public func makeIterator() -> IndexingIterator<[Entry]> { entries.makeIterator() }

    public var description: String {
        "[" + entries.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "]"
    }
}
