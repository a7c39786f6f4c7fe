/// A service and its methods, in registration order.
public struct ServiceDescriptor: Sendable, Hashable {
    /// Fully qualified service name, e.g. `capstan.v1.Pods`.
    public let name: String
    public var methods: [AnyMethodDescriptor]

    public init(name: String, methods: [AnyMethodDescriptor]) {
        self.name = name
        self.methods = methods
    }
}
