/// What every generated message type is: a plain value with a proto name and a default.
public protocol ProtoMessage: Sendable, Hashable, Codable {
    /// The fully qualified protobuf name, e.g. `capstan.v1.Pod`.
    static var protoMessageName: String { get }
    /// The message with every field at its default.
    init()
}

/// What every generated enum is: a closed set of known cases plus any unknown value, kept.
public protocol ProtoEnum: RawRepresentable<Int32>, Hashable, Sendable, Codable, CaseIterable
where AllCases == [Self] {
    /// The fully qualified protobuf name, e.g. `capstan.v1.RestartPolicy`.
    static var protoEnumName: String { get }
    /// The prefix every value name of the enum shares by convention, e.g. `RESTART_POLICY_`.
    static var protoValuePrefix: String { get }
    /// The zero value.
    init()
    init(rawValue: Int32)
    /// The value's name in the schema (`RESTART_POLICY_ALWAYS`); nil for an unknown number.
    var protoName: String? { get }
}

extension ProtoEnum {
    /// Finds a value by name, forgivingly: the exact schema name, or any spelling that matches it
    /// or its name without the enum's prefix once case and underscores are ignored
    /// (`RESTART_POLICY_ON_FAILURE`, `ON_FAILURE`, `OnFailure`, `onFailure`).
    public init?(protoName name: String) {
        let wanted = Self.normalized(Substring(name))
        let prefix = Self.normalized(Substring(Self.protoValuePrefix))
        for candidate in Self.allCases {
            guard let full = candidate.protoName.map({ Self.normalized(Substring($0)) }) else { continue }
            if full == wanted || (full.hasPrefix(prefix) && full.dropFirst(prefix.count) == wanted) {
                self = candidate
                return
            }
        }
        return nil
    }

    private static func normalized(_ s: Substring) -> String {
        String(s.lowercased().filter { $0 != "_" })
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int32.self) {
            self.init(rawValue: number)
            return
        }
        let name = try container.decode(String.self)
        guard let value = Self(protoName: name) else {
            let known = Self.allCases.compactMap(\.protoName).joined(separator: ", ")
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "\"\(name)\" is not a value of \(Self.protoEnumName) (one of: \(known))")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let name = protoName {
            try container.encode(name)
        } else {
            try container.encode(rawValue)
        }
    }
}
