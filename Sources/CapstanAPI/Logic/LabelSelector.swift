/// A label selector in Kubernetes syntax: requirements joined by ',' (AND).
///
/// `a=b`, `a==b` (equal), `a!=b` (not equal, or absent), `a in (x,y)`, `a notin (x)` (absent or
/// not in the set), `a` (present), `!a` (absent). The empty selector matches everything.
public struct LabelSelector: Sendable, Hashable, CustomStringConvertible {
    /// One condition on one label.
    public enum Requirement: Sendable, Hashable {
        case equals(key: String, value: String)
        case notEquals(key: String, value: String)
        case isIn(key: String, values: Set<String>)
        case notIn(key: String, values: Set<String>)
        case exists(key: String)
        case doesNotExist(key: String)

        /// Whether `labels` satisfy this requirement.
        public func matches(_ labels: [String: String]) -> Bool {
            switch self {
            case .equals(let key, let value): labels[key] == value
            case .notEquals(let key, let value): labels[key] != value
            case .isIn(let key, let values): labels[key].map(values.contains) ?? false
            case .notIn(let key, let values): labels[key].map { !values.contains($0) } ?? true
            case .exists(let key): labels[key] != nil
            case .doesNotExist(let key): labels[key] == nil
            }
        }
    }

    public var requirements: [Requirement]

    public init(requirements: [Requirement] = []) {
        self.requirements = requirements
    }

    /// The selector that matches labels containing every pair of `labels` (a controller's or
    /// service's `selector` map).
    public init(matching labels: [String: String]) {
        self.requirements = labels.sorted { $0.key < $1.key }.map { .equals(key: $0.key, value: $0.value) }
    }

    /// Matches everything.
    public var isEmpty: Bool { requirements.isEmpty }

    /// Whether `labels` satisfy every requirement.
    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { $0.matches(labels) }
    }

    /// Parses Kubernetes label selector syntax; throws `SelectorError` naming the position and token
    /// of the first problem. Keys must be qualified names and values valid label values.
    public static func parse(_ text: String) throws(SelectorError) -> LabelSelector {
        try SelectorLexer.precheck(text, kind: .label)
        var parser = LabelSelectorParser(text: text)
        return try parser.parse()
    }

    /// The selector in canonical syntax (sets sorted), e.g. `app=web,tier in (a,b),!canary`.
    public var description: String {
        requirements.map { requirement in
            switch requirement {
            case .equals(let key, let value): "\(key)=\(value)"
            case .notEquals(let key, let value): "\(key)!=\(value)"
            case .isIn(let key, let values): "\(key) in (\(values.sorted().joined(separator: ",")))"
            case .notIn(let key, let values): "\(key) notin (\(values.sorted().joined(separator: ",")))"
            case .exists(let key): key
            case .doesNotExist(let key): "!\(key)"
            }
        }.joined(separator: ",")
    }
}

/// Recursive descent over `SelectorLexer`'s tokens.
private struct LabelSelectorParser {
    let text: String
    var cursor: SelectorTokenCursor

    init(text: String) {
        self.text = text
        self.cursor = SelectorTokenCursor(SelectorLexer.tokenize(text))
    }

    mutating func parse() throws(SelectorError) -> LabelSelector {
        var requirements: [LabelSelector.Requirement] = []
        if cursor.current.kind == .end { return LabelSelector() }
        while true {
            if requirements.count == SelectorLexer.maxRequirements {
                throw error("more than \(SelectorLexer.maxRequirements) requirements")
            }
            requirements.append(try requirement())
            switch cursor.current.kind {
            case .end:
                return LabelSelector(requirements: requirements)
            case .comma:
                cursor.advance()
            default:
                throw error("expected \",\" or the end of the selector")
            }
        }
    }

    private mutating func requirement() throws(SelectorError) -> LabelSelector.Requirement {
        if cursor.current.kind == .bang {
            cursor.advance()
            return .doesNotExist(key: try key())
        }
        let key = try key()
        switch cursor.current.kind {
        case .end, .comma:
            return .exists(key: key)
        case .equals, .doubleEquals:
            cursor.advance()
            return .equals(key: key, value: try value())
        case .notEquals:
            cursor.advance()
            return .notEquals(key: key, value: try value())
        case .word where cursor.current.text == "in":
            cursor.advance()
            return .isIn(key: key, values: try valueSet())
        case .word where cursor.current.text == "notin":
            cursor.advance()
            return .notIn(key: key, values: try valueSet())
        default:
            throw error("expected an operator (=, ==, !=, in, notin), \",\" or the end of the selector")
        }
    }

    private mutating func key() throws(SelectorError) -> String {
        guard cursor.current.kind == .word else { throw error("expected a label key") }
        let token = cursor.current
        if let reason = DNS1123.qualifiedNameViolation(token.text) { throw error("invalid label key: \(reason)") }
        cursor.advance()
        return token.text
    }

    /// A value after `=`, `==` or `!=`; may be empty (`a=` selects an empty value).
    private mutating func value() throws(SelectorError) -> String {
        switch cursor.current.kind {
        case .end, .comma:
            return ""
        case .word:
            let token = cursor.current
            if let reason = DNS1123.labelValueViolation(token.text) { throw error("invalid label value: \(reason)") }
            cursor.advance()
            return token.text
        default:
            throw error("expected a label value")
        }
    }

    /// `(v1,v2,…)`. As in Kubernetes, a slot may be empty and stands for the empty value: `()`
    /// is the set of "", and `(a,)` holds "a" and "".
    private mutating func valueSet() throws(SelectorError) -> Set<String> {
        guard cursor.current.kind == .openParen else { throw error("expected \"(\"") }
        cursor.advance()
        var values: Set<String> = []
        while true {
            switch cursor.current.kind {
            case .word:
                let token = cursor.current
                if let reason = DNS1123.labelValueViolation(token.text) { throw error("invalid label value: \(reason)") }
                values.insert(token.text)
                cursor.advance()
            case .comma, .closeParen:
                values.insert("")
            default:
                throw error("expected a label value, \",\" or \")\"")
            }
            switch cursor.current.kind {
            case .comma:
                cursor.advance()
            case .closeParen:
                cursor.advance()
                return values
            default:
                throw error("expected \",\" or \")\"")
            }
        }
    }

    private func error(_ reason: String) -> SelectorError {
        SelectorError(kind: .label, selector: text, position: cursor.current.position, token: cursor.current.text, reason: reason)
    }
}
