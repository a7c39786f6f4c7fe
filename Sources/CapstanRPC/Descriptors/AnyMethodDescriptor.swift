/// A method described by names only: what routing, interceptors and reflection see.
public struct AnyMethodDescriptor: Sendable, Hashable, CustomStringConvertible {
    public let service: String
    public let method: String
    public let kind: StreamingKind
    /// Fully qualified protobuf name of the request message.
    public let requestType: String
    /// Fully qualified protobuf name of the response message.
    public let responseType: String

    public init(service: String, method: String, kind: StreamingKind, requestType: String, responseType: String) {
        self.service = service
        self.method = method
        self.kind = kind
        self.requestType = requestType
        self.responseType = responseType
    }

    /// The HTTP/2 `:path`, e.g. `/capstan.v1.Pods/Create`.
    public var path: String { "/\(service)/\(method)" }

    public var description: String { path }
}
