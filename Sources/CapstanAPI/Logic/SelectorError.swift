/// Why a label or field selector could not be parsed or does not apply to a kind.
///
/// `position` is the 0-based character offset of `token` in the selector text; `token` is the
/// offending text (empty at the end of the input).
public struct SelectorError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Which kind of selector failed.
    public enum Kind: String, Sendable, Hashable {
        case label
        case field
    }

    public var kind: Kind
    /// The whole selector as given.
    public var selector: String
    /// 0-based character offset of `token`.
    public var position: Int
    /// The offending token; empty when the input ended too early.
    public var token: String
    /// What was wrong, e.g. `expected ")" or ","`.
    public var reason: String

    public init(kind: Kind, selector: String, position: Int, token: String, reason: String) {
        self.kind = kind
        self.selector = selector
        self.position = position
        self.token = token
        self.reason = reason
    }

    /// `invalid label selector "a in (x": at position 7, end of input: expected ")" or ","`.
    public var description: String {
        "invalid \(kind.rawValue) selector \"\(selector)\": \(located)"
    }

    /// Where and what: `at position 8, end of input: expected …` (a BadRequest's field violation).
    public var located: String {
        let found = token.isEmpty ? "end of input" : "token \"\(token)\""
        return "at position \(position), \(found): \(reason)"
    }
}
