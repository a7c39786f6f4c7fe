public import CapstanAPI
public import CapstanWire

/// gRPC server reflection, in both packages generic tools speak: `grpc.reflection.v1alpha`
/// (grpcurl, older clients) and `grpc.reflection.v1`. One stream carries any number of requests;
/// each gets exactly one response echoing its `host` (as `valid_host`) and the request itself.
///
/// Answers, as grpc's reflection service does:
/// - `list_services`: the service names given at construction.
/// - `file_by_filename`, `file_containing_symbol` (messages, enums, services, methods, nested
///   types, fields, oneofs, enum values, extensions, fully qualified): the file, then all its
///   transitive dependencies, each once per response.
/// - `file_containing_extension`, `all_extension_numbers_of_type`: from the extensions the
///   descriptors declare (Capstan's schemas declare none, so a known message type has an empty list).
/// - Anything unknown (file, symbol, type, extension): an `error_response` with `NOT_FOUND`;
///   a request with no recognised case: `UNIMPLEMENTED`. The stream continues either way.
public struct ReflectionService: Sendable {
    /// What `list_services` reports, in order.
    public let services: [String]
    private let index: ReflectionIndex

    /// - Parameters:
    ///   - services: fully qualified names of the services the server exposes; include the
    ///     reflection services themselves (duplicates are dropped). `RPCRouter.addStandardServices`
    ///     computes this from the router.
    ///   - descriptors: every file the services' schemas need, dependencies included, e.g.
    ///     `CapstanFileDescriptors.all`. A file name given twice keeps its first descriptor.
    public init(services: [String], descriptors: [ProtoFileDescriptor]) {
        var seen: Set<String> = []
        self.services = services.filter { seen.insert($0).inserted }
        self.index = ReflectionIndex(descriptors)
    }

    /// The service names for the reflection services, both packages.
    public static let serviceNames = [
        Grpc_Reflection_V1alpha_ServerReflection.serviceName,
        Grpc_Reflection_V1_ServerReflection.serviceName,
    ]

    /// Registers both `grpc.reflection.v1alpha.ServerReflection` and `grpc.reflection.v1.ServerReflection`.
    public func register(on router: inout RPCRouter) {
        // The generated `register(on:)` of each handler protocol, picked explicitly: both exist here.
        (self as any Grpc_Reflection_V1alpha_ServerReflection.Handler).register(on: &router)
        (self as any Grpc_Reflection_V1_ServerReflection.Handler).register(on: &router)
    }

    /// Answers each request of one stream in turn until the client half-closes.
    private func serve<Schema: ReflectionSchema>(
        _: Schema.Type, requests: RequestStream<Schema.Request>, response: ResponseStream<Schema.Response>
    ) async throws {
        for try await request in requests {
            let answer = index.answer(Schema.query(of: request), services: services)
            try await response.write(Schema.response(to: request, answer: answer))
        }
    }
}

extension ReflectionService: Grpc_Reflection_V1alpha_ServerReflection.Handler {
    public func serverReflectionInfo(
        requests: RequestStream<Grpc_Reflection_V1alpha_ServerReflectionRequest>,
        response: ResponseStream<Grpc_Reflection_V1alpha_ServerReflectionResponse>,
        context: ServerContext
    ) async throws {
        try await serve(ReflectionSchemaV1Alpha.self, requests: requests, response: response)
    }
}

extension ReflectionService: Grpc_Reflection_V1_ServerReflection.Handler {
    public func serverReflectionInfo(
        requests: RequestStream<Grpc_Reflection_V1_ServerReflectionRequest>,
        response: ResponseStream<Grpc_Reflection_V1_ServerReflectionResponse>,
        context: ServerContext
    ) async throws {
        try await serve(ReflectionSchemaV1.self, requests: requests, response: response)
    }
}
