/// Maps method paths to handlers. Generated service code registers its methods here;
/// registering a path again replaces the earlier route.
public struct RPCRouter: Sendable {
    /// A handler working on raw request bytes; the typed adapters live in `RouteHandlers.swift`.
    typealias Handler = @Sendable (
        _ requests: any AsyncSequence<[UInt8], any Error> & Sendable,
        _ call: ServerCall,
        _ context: ServerContext
    ) async throws -> Void

    /// A unary method as a function of the request's bytes to the response's bytes (decode,
    /// handle, encode): what the server's unary fast path calls.
    typealias UnaryHandler = nonisolated(nonsending) @Sendable (_ request: [UInt8], _ context: ServerContext) async throws -> [UInt8]

    /// A unary method's answer when it needs no waiting, on the transport's thread (see
    /// `ImmediateMethod`): the response's bytes, or `nil` (before any effect) to take the
    /// general path.
    typealias ImmediateHandler = @Sendable (_ request: [UInt8], _ context: ServerContext) throws -> [UInt8]?

    enum Route: Sendable {
        /// `unary` is set for unary methods (the fast path), `immediate` for those that may answer
        /// without a task; `handler` serves every kind.
        case method(AnyMethodDescriptor, Handler, unary: UnaryHandler?, immediate: ImmediateHandler?)
        case fixed(RPCError)
    }

    private var routes: [String: Route] = [:]
    /// Method paths in first-registration order, for `services`.
    private var methodOrder: [String] = []
    private var knownServices: Set<String> = []

    public init() {}

    /// Registers a unary method. `handler` runs on the executor of the task serving the call
    /// (`nonisolated(nonsending)`), so a handler that does not hop itself costs no executor switch.
    public mutating func unary<Req, Res>(
        _ m: MethodDescriptor<Req, Res>,
        _ handler: nonisolated(nonsending) @escaping @Sendable (Req, ServerContext) async throws -> Res
    ) {
        let unary = Self.unaryBytesHandler(m, handler)
        register(m, .unary, Self.unaryHandler(m, unary), unary: unary)
    }

    /// Registers a unary method given as a function of the request's bytes to the response's
    /// bytes; the function decodes with `m.decodeRequest` and encodes with `serializedBytes()`.
    /// Generated `register(on:)` code uses this: against the typed `unary(_:_:)` it saves an
    /// async frame (and the executor check when it returns) on every call. Otherwise the same:
    /// interceptors, deadlines and errors apply alike.
    public mutating func unaryBytes<Req, Res>(
        _ m: MethodDescriptor<Req, Res>,
        _ handler: nonisolated(nonsending) @escaping @Sendable (_ request: [UInt8], _ context: ServerContext) async throws -> [UInt8]
    ) {
        register(m, .unary, Self.unaryHandler(m, handler), unary: handler)
    }

    public mutating func serverStreaming<Req, Res>(
        _ m: MethodDescriptor<Req, Res>,
        _ handler: @escaping @Sendable (Req, ResponseStream<Res>, ServerContext) async throws -> Void
    ) {
        register(m, .serverStreaming, Self.serverStreamingHandler(m, handler))
    }

    public mutating func clientStreaming<Req, Res>(
        _ m: MethodDescriptor<Req, Res>,
        _ handler: @escaping @Sendable (RequestStream<Req>, ServerContext) async throws -> Res
    ) {
        register(m, .clientStreaming, Self.clientStreamingHandler(m, handler))
    }

    public mutating func bidirectional<Req, Res>(
        _ m: MethodDescriptor<Req, Res>,
        _ handler: @escaping @Sendable (RequestStream<Req>, ResponseStream<Res>, ServerContext) async throws -> Void
    ) {
        register(m, .bidirectional, Self.bidirectionalHandler(m, handler))
    }

    /// Answers every call to `path` (e.g. `/capstan.v1.Minions/Update`) with `error`,
    /// without running interceptors. Such paths are not listed in `services`.
    public mutating func answer(path: String, with error: RPCError) {
        guard let (service, _) = Self.split(path) else {
            preconditionFailure("'\(path)' is not a method path of the form /service/method")
        }
        knownServices.insert(service)
        methodOrder.removeAll { $0 == path }
        routes[path] = .fixed(error)
    }

    /// Registered services and their methods, in registration order.
    public var services: [ServiceDescriptor] {
        var result: [ServiceDescriptor] = []
        for path in methodOrder {
            guard case .method(let descriptor, _, _, _)? = routes[path] else { continue }
            if let index = result.firstIndex(where: { $0.name == descriptor.service }) {
                result[index].methods.append(descriptor)
            } else {
                result.append(ServiceDescriptor(name: descriptor.service, methods: [descriptor]))
            }
        }
        return result
    }

    /// The method registered for `path`, if any.
    public func method(for path: String) -> AnyMethodDescriptor? {
        guard case .method(let descriptor, _, _, _)? = routes[path] else { return nil }
        return descriptor
    }

    func route(for path: String) -> Route? {
        routes[path]
    }

    /// Every path with its route (for servers that resolve per-route state once).
    var allRoutes: [String: Route] { routes }

    /// The `UNIMPLEMENTED` error for a path with no route, naming what is missing.
    func unknownPathError(_ path: String) -> RPCError {
        guard let (service, method) = Self.split(path) else {
            return RPCError(code: .unimplemented, message: "malformed method path '\(path)': expected /service/method")
        }
        if knownServices.contains(service) {
            return RPCError(code: .unimplemented, message: "unknown method \(method) in service \(service)")
        }
        return RPCError(code: .unimplemented, message: "unknown service \(service)")
    }

    mutating func register<Req, Res>(
        _ m: MethodDescriptor<Req, Res>, _ kind: StreamingKind, _ handler: @escaping Handler,
        unary: UnaryHandler? = nil, immediate: ImmediateHandler? = nil
    ) {
        precondition(m.kind == kind, "\(m.path) is declared \(m.kind) but registered as \(kind)")
        knownServices.insert(m.service)
        if !methodOrder.contains(m.path) { methodOrder.append(m.path) }
        routes[m.path] = .method(m.erased, handler, unary: unary, immediate: immediate)
    }

    /// Splits `/service/method`; `nil` when malformed.
    private static func split(_ path: String) -> (service: String, method: String)? {
        guard path.hasPrefix("/") else { return nil }
        let parts = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (String(parts[0]), String(parts[1]))
    }
}
