public import CapstanWire
internal import CapstanAPI

/// A method with its message types, as generated code declares it.
public struct MethodDescriptor<Request: WireMessage, Response: WireMessage>: Sendable, Hashable {
    /// Fully qualified service name, e.g. `capstan.v1.Pods`.
    public let service: String
    /// Method name, e.g. `Create`.
    public let method: String
    public let kind: StreamingKind

    public init(service: String, method: String, kind: StreamingKind) {
        self.service = service
        self.method = method
        self.kind = kind
    }

    /// The HTTP/2 `:path`, e.g. `/capstan.v1.Pods/Create`.
    public var path: String { "/\(service)/\(method)" }

    /// Decodes a request of this method from its binary encoding; one that does not parse is an
    /// `INTERNAL` error naming the method and the message type (gRPC's convention). Inlinable, so
    /// generated handlers decode their concrete type without generic dispatch.
    @inlinable
    public func decodeRequest(_ bytes: [UInt8]) throws(RPCError) -> Request {
        try MessageCodec.decodeRequest(Request.self, from: bytes, path: path)
    }

    /// The same method without its static types.
    public var erased: AnyMethodDescriptor {
        AnyMethodDescriptor(
            service: service,
            method: method,
            kind: kind,
            requestType: Request.protoMessageName,
            responseType: Response.protoMessageName
        )
    }
}
