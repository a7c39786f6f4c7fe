/// A path to a field from the object's root, in proto field names:
/// `spec.containers[0].ports[1].container_port`.
public struct FieldPath: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let description: String

    public init(_ path: String) {
        self.description = path
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    /// The path of field `name` inside this one.
    public func child(_ name: String) -> FieldPath {
        FieldPath(description.isEmpty ? name : "\(description).\(name)")
    }

    /// The path of element `index` of this repeated field.
    public func index(_ index: Int) -> FieldPath {
        FieldPath("\(description)[\(index)]")
    }

    /// The path of key `key` of this map field.
    public func key(_ key: String) -> FieldPath {
        FieldPath("\(description)[\(key)]")
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

    /// Adds `reason` for `path` when it is non-nil.
    public mutating func add(_ path: FieldPath, ifPresent reason: String?) {
        if let reason { add(path, reason) }
    }

    public mutating func append(contentsOf other: FieldErrors) {
        all.append(contentsOf: other.all)
    }
}
