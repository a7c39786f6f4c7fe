/// A field selector: `field=value`, `field==value` or `field!=value`, joined by ',' (AND), over
/// the fields a kind makes selectable (`FieldSchema`). The empty selector matches everything.
///
/// Values are compared in canonical form: enum values by their schema name, so `status.phase=Running`,
/// `RUNNING` and `POD_PHASE_RUNNING` select the same pods; booleans as `true`/`false`.
public struct FieldSelector: Sendable, Hashable, CustomStringConvertible {
    /// One comparison of one field.
    public struct Requirement: Sendable, Hashable {
        public enum Operator: Sendable, Hashable {
            case equals
            case notEquals
        }

        public var field: String
        public var op: Operator
        /// The value in canonical form.
        public var value: String

        public init(field: String, op: Operator, value: String) {
            self.field = field
            self.op = op
            self.value = value
        }

        /// Whether `fields` (canonical values; a missing field counts as "") satisfy this.
        public func matches(_ fields: [String: String]) -> Bool {
            let actual = fields[field] ?? ""
            return op == .equals ? actual == value : actual != value
        }
    }

    public var requirements: [Requirement]

    public init(requirements: [Requirement] = []) {
        self.requirements = requirements
    }

    public var isEmpty: Bool { requirements.isEmpty }

    /// Whether `fields` satisfy every requirement.
    public func matches(_ fields: [String: String]) -> Bool {
        requirements.allSatisfy { $0.matches(fields) }
    }

    /// Whether `fields` satisfy every requirement (a missing field counts as "").
    public func matches(_ fields: FieldValues) -> Bool {
        requirements.allSatisfy { requirement in
            let actual = fields[requirement.field] ?? ""
            return requirement.op == .equals ? actual == requirement.value : actual != requirement.value
        }
    }

    /// The requirement values for `field` when the selector demands equality (e.g. to narrow a
    /// lookup to one namespace), or nil when it does not constrain `field` that way.
    public func requiredValue(of field: String) -> String? {
        requirements.first { $0.field == field && $0.op == .equals }?.value
    }

    /// Parses `text` against `schema`: unknown fields and values a field cannot take (an unknown enum
    /// value, a non-boolean) are errors naming their position and token.
    public static func parse(_ text: String, schema: FieldSchema) throws(SelectorError) -> FieldSelector {
        try SelectorLexer.precheck(text, kind: .field)
        var cursor = SelectorTokenCursor(SelectorLexer.tokenize(text))
        func error(_ reason: String) -> SelectorError {
            SelectorError(kind: .field, selector: text, position: cursor.current.position, token: cursor.current.text, reason: reason)
        }
        var requirements: [Requirement] = []
        if cursor.current.kind == .end { return FieldSelector() }
        while true {
            if requirements.count == SelectorLexer.maxRequirements {
                throw error("more than \(SelectorLexer.maxRequirements) requirements")
            }
            guard cursor.current.kind == .word else { throw error("expected a field name") }
            let fieldToken = cursor.current
            guard let kind = schema.kind(of: fieldToken.text) else {
                throw error("unknown field; selectable fields are \(schema.names.joined(separator: ", "))")
            }
            cursor.advance()
            let op: Requirement.Operator
            switch cursor.current.kind {
            case .equals, .doubleEquals: op = .equals
            case .notEquals: op = .notEquals
            default: throw error("expected \"=\", \"==\" or \"!=\"")
            }
            cursor.advance()
            var value = ""
            if cursor.current.kind == .word {
                let valueToken = cursor.current
                guard let canonical = kind.canonical(valueToken.text) else {
                    throw error("not a value of \(fieldToken.text) (\(kind.allowedDescription))")
                }
                value = canonical
                cursor.advance()
            } else if cursor.current.kind != .comma && cursor.current.kind != .end {
                throw error("expected a value")
            }
            requirements.append(Requirement(field: fieldToken.text, op: op, value: value))
            switch cursor.current.kind {
            case .end:
                return FieldSelector(requirements: requirements)
            case .comma:
                cursor.advance()
            default:
                throw error("expected \",\" or the end of the selector")
            }
        }
    }

    public var description: String {
        requirements.map { "\($0.field)\($0.op == .equals ? "=" : "!=")\($0.value)" }.joined(separator: ",")
    }
}

/// The fields of a kind that field selectors may name, and what values each takes.
public struct FieldSchema: Sendable {
    /// What values a selectable field takes.
    public enum ValueKind: Sendable {
        /// Any text, compared exactly.
        case string
        /// `true` or `false`, case-insensitively.
        case bool
        /// The values of a protobuf enum, forgivingly spelled (see `ProtoEnum.init(protoName:)`).
        case enumeration(@Sendable (String) -> String?, names: [String])

        /// An enum's kind: canonical form is the schema name (`POD_PHASE_RUNNING`).
        public static func of<E: ProtoEnum>(_ type: E.Type) -> ValueKind {
            .enumeration({ E(protoName: $0)?.protoName }, names: E.allCases.compactMap(\.protoName))
        }

        /// The canonical form of `text`, or nil if the field cannot take it.
        func canonical(_ text: String) -> String? {
            switch self {
            case .string:
                return text
            case .bool:
                switch text.lowercased() {
                case "true": return "true"
                case "false": return "false"
                default: return nil
                }
            case .enumeration(let canonical, _):
                return canonical(text)
            }
        }

        var allowedDescription: String {
            switch self {
            case .string: "any text"
            case .bool: "true or false"
            case .enumeration(_, let names): "one of \(names.joined(separator: ", "))"
            }
        }
    }

    /// Field names in the order they are listed in messages.
    public let names: [String]
    private let kinds: [String: ValueKind]

    /// `metadata.name` and `metadata.namespace` (text) plus `extra`.
    public init(_ extra: KeyValuePairs<String, ValueKind> = [:]) {
        var names = ["metadata.name", "metadata.namespace"]
        var kinds: [String: ValueKind] = ["metadata.name": .string, "metadata.namespace": .string]
        for (name, kind) in extra {
            names.append(name)
            kinds[name] = kind
        }
        self.names = names
        self.kinds = kinds
    }

    public func kind(of field: String) -> ValueKind? { kinds[field] }
}

/// One object's selectable fields as (field, canonical value) pairs: what `FieldSelector`
/// matches, built on every write without hashing (a kind has a handful of fields).
public struct FieldValues: Sendable, Hashable {
    public struct Field: Sendable, Hashable {
        public var name: String
        public var value: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public var fields: [Field]

    public init(_ fields: [Field]) {
        self.fields = fields
    }

    /// The pairs of a dictionary, in key order.
    public init(_ dictionary: [String: String]) {
        fields = dictionary.sorted { $0.key < $1.key }.map { Field($0.key, $0.value) }
    }

    /// The value of `name`, or nil when the object has no such field.
    public subscript(name: String) -> String? {
        for field in fields where field.name == name { return field.value }
        return nil
    }

    /// The pairs as a dictionary.
    public var dictionary: [String: String] {
        Dictionary(fields.map { ($0.name, $0.value) }, uniquingKeysWith: { _, last in last })
    }
}
