/// A method described by names only: what routing, interceptors and reflection see.
///
/// The names live in one shared immutable box, so copying a descriptor (every call's
/// `ServerContext` carries one) retains one object instead of four strings; `path` is built once.
public struct AnyMethodDescriptor: Sendable, Hashable, CustomStringConvertible {
    private final class Names: Sendable {
        let service: String
        let method: String
        let kind: StreamingKind
        let requestType: String
        let responseType: String
        let path: String

        init(service: String, method: String, kind: StreamingKind, requestType: String, responseType: String) {
            self.service = service
            self.method = method
            self.kind = kind
            self.requestType = requestType
            self.responseType = responseType
            path = "/\(service)/\(method)"
        }
    }

    private let names: Names

    public var service: String { names.service }
    public var method: String { names.method }
    public var kind: StreamingKind { names.kind }
    /// Fully qualified protobuf name of the request message.
    public var requestType: String { names.requestType }
    /// Fully qualified protobuf name of the response message.
    public var responseType: String { names.responseType }

    public init(service: String, method: String, kind: StreamingKind, requestType: String, responseType: String) {
        names = Names(service: service, method: method, kind: kind, requestType: requestType, responseType: responseType)
    }

    /// The HTTP/2 `:path`, e.g. `/capstan.v1.Pods/Create`.
    public var path: String { names.path }

    public var description: String { path }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.names === rhs.names
            || (lhs.service == rhs.service && lhs.method == rhs.method && lhs.kind == rhs.kind
                && lhs.requestType == rhs.requestType && lhs.responseType == rhs.responseType)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(service)
        hasher.combine(method)
        hasher.combine(kind)
        hasher.combine(requestType)
        hasher.combine(responseType)
    }
}
