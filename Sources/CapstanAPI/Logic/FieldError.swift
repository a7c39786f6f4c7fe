/// A path to a field from the object's root, in proto field names:
/// `spec.containers[0].ports[1].container_port`.
///
/// Validation builds a path for every field it checks but needs its text only for the few that
/// are wrong, so a path is kept as its steps and spelled out only when asked (`description`,
/// equality, hashing).
public struct FieldPath: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// A root is stored inline (a path made for a call that finds nothing wrong allocates
    /// nothing); the steps below it are boxed.
    private enum Step: Sendable {
        case root(String)
        indirect case child(Step, String)
        indirect case index(Step, Int)
        indirect case key(Step, String)

        func write(to text: inout String) {
            switch self {
            case .root(let path):
                text += path
            case .child(let parent, let name):
                parent.write(to: &text)
                if !text.isEmpty { text += "." }
                text += name
            case .index(let parent, let index):
                parent.write(to: &text)
                text += "[\(index)]"
            case .key(let parent, let key):
                parent.write(to: &text)
                text += "[\(key)]"
            }
        }
    }

    private let step: Step

    public init(_ path: String) {
        self.step = .root(path)
    }

    private init(step: Step) {
        self.step = step
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    public var description: String {
        if case .root(let path) = step { return path }
        var text = ""
        step.write(to: &text)
        return text
    }

    public static func == (a: FieldPath, b: FieldPath) -> Bool {
        a.description == b.description
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(description)
    }

    /// The path of field `name` inside this one.
    public func child(_ name: String) -> FieldPath {
        FieldPath(step: .child(step, name))
    }

    /// The path of element `index` of this repeated field.
    public func index(_ index: Int) -> FieldPath {
        FieldPath(step: .index(step, index))
    }

    /// The path of key `key` of this map field.
    public func key(_ key: String) -> FieldPath {
        FieldPath(step: .key(step, key))
    }
}

/// One invalid field and why.
public struct FieldError: Error, Sendable, Hashable, CustomStringConvertible {
    public var path: FieldPath
    public var reason: String

    public init(_ path: FieldPath, _ reason: String) {
        self.path = path
        self.reason = reason
    }

    /// `spec.containers[0].name: must not be empty`.
    public var description: String { "\(path): \(reason)" }
}

/// Collects every problem of an object so they can be reported at once.
public struct FieldErrors: Sendable, Hashable {
    public private(set) var all: [FieldError] = []

    public init() {}

    public var isEmpty: Bool { all.isEmpty }

    public mutating func add(_ path: FieldPath, _ reason: String) {
        all.append(FieldError(path, reason))
    }

    /// Adds `reason` for `path` when it is non-nil; the path is built only then.
    public mutating func add(_ path: @autoclosure () -> FieldPath, ifPresent reason: String?) {
        if let reason { add(path(), reason) }
    }

    public mutating func append(contentsOf other: FieldErrors) {
        all.append(contentsOf: other.all)
    }
}
