import CapstanAPI
import CapstanRPC
import CapstanWire
import Testing

/// `ReflectionService` in both packages over the in-process transport, installed the way servers
/// install it (`addStandardServices`), answering from `CapstanFileDescriptors.all` plus two
/// hand-built files that declare extensions.
@Suite("Standard: reflection", .timeLimit(.minutes(1)))
struct StandardReflectionTests {
    static let descriptors = CapstanFileDescriptors.all + ExtensionFixtures.descriptors

    /// Runs `body` with a reflection stream to a server exposing Pods, etcd Watch and the standard services.
    func withReflection<T: Sendable>(
        _ version: ReflectionVersion, _ body: @Sendable (ReflectionStream) async throws -> T
    ) async throws -> T {
        try await withServer(routes: { router in
            GeneratedServiceTests.PodStore().register(on: &router)
            GeneratedServiceTests.EchoWatch().register(on: &router)
            router.addStandardServices(health: HealthService(), descriptors: Self.descriptors)
        }) { rpc, _ in
            let stream = try await ReflectionStream(version, rpc: rpc)
            let result = try await body(stream)
            stream.closeSend()
            #expect(try await stream.receive() == nil, "the stream ends OK after the client half-closes")
            return result
        }
    }

    /// The file names of serialized descriptors, matched against the embedded ones byte for byte.
    static func names(_ files: [[UInt8]]) -> [String] {
        files.map { bytes in descriptors.first { $0.serialized == bytes }?.name ?? "<\(bytes.count) unknown bytes>" }
    }

    static func files(_ response: ReflectionResponse) -> [String]? {
        guard case .fileDescriptorResponse(let body)? = response.messageResponse else { return nil }
        return names(body.fileDescriptorProto)
    }

    static func error(_ response: ReflectionResponse) -> (code: Int32, message: String)? {
        guard case .errorResponse(let body)? = response.messageResponse else { return nil }
        return (body.errorCode, body.errorMessage)
    }

    static func extensionRequest(_ type: String, _ number: Int32) -> ReflectionRequest.MessageRequest {
        var request = Grpc_Reflection_V1_ExtensionRequest()
        request.containingType = type
        request.extensionNumber = number
        return .fileContainingExtension(request)
    }

    static let podFiles = ["capstan/v1/pod.proto", "google/protobuf/timestamp.proto", "capstan/v1/meta.proto"]

    @Test("list_services names the router's services and the standard ones; host and request are echoed",
          arguments: ReflectionVersion.allCases)
    func listServices(version: ReflectionVersion) async throws {
        try await withReflection(version) { stream in
            let request = ReflectionRequest.make(.listServices("*"), host: "capstan.local:7443")
            let response = try await stream.ask(request)
            guard case .listServicesResponse(let body)? = response.messageResponse else {
                Issue.record("expected a list_services_response, got \(String(describing: response.messageResponse))")
                return
            }
            #expect(body.service.map(\.name) == [
                "capstan.v1.Pods", "etcdserverpb.Watch", "grpc.health.v1.Health",
                "grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection",
            ])
            #expect(response.validHost == "capstan.local:7443")
            #expect(response.hasOriginalRequest)
            #expect(response.originalRequest == request)
        }
    }

    @Test("file_by_filename returns the embedded descriptor's bytes, then its dependencies once each",
          arguments: ReflectionVersion.allCases)
    func fileByFilename(version: ReflectionVersion) async throws {
        try await withReflection(version) { stream in
            let response = try await stream.ask(.make(.fileByFilename("capstan/v1/pod.proto")))
            guard case .fileDescriptorResponse(let body)? = response.messageResponse else {
                Issue.record("expected a file_descriptor_response, got \(String(describing: response.messageResponse))")
                return
            }
            #expect(body.fileDescriptorProto.first == ProtoFileDescriptor.capstan_v1_pod.serialized)
            // meta.proto imports timestamp.proto too; it is sent once.
            #expect(Self.names(body.fileDescriptorProto) == Self.podFiles)

            let leaf = try await stream.ask(.make(.fileByFilename("google/protobuf/timestamp.proto")))
            #expect(Self.files(leaf) == ["google/protobuf/timestamp.proto"])
            let health = try await stream.ask(.make(.fileByFilename("grpc/health/v1/health.proto")))
            #expect(Self.files(health) == ["grpc/health/v1/health.proto"])
        }
    }

    @Test("file_containing_symbol finds services, methods, messages, enums, fields, values and nested names",
          arguments: ReflectionVersion.allCases)
    func fileContainingSymbol(version: ReflectionVersion) async throws {
        let expected: [String: [String]] = [
            "capstan.v1.Pods": Self.podFiles,
            "capstan.v1.Pods.Create": Self.podFiles,
            "capstan.v1.Pod": Self.podFiles,
            "capstan.v1.PodPhase": Self.podFiles,
            "capstan.v1.POD_PHASE_RUNNING": Self.podFiles,
            "capstan.v1.Pod.metadata": Self.podFiles,
            "capstan.v1.Probe.handler": Self.podFiles,
            "capstan.v1.ObjectMeta": ["capstan/v1/meta.proto", "google/protobuf/timestamp.proto"],
            "google.rpc.BadRequest.FieldViolation": ["google/rpc/error_details.proto"],
            "grpc.health.v1.HealthCheckResponse.ServingStatus": ["grpc/health/v1/health.proto"],
            "grpc.health.v1.HealthCheckResponse.SERVING": ["grpc/health/v1/health.proto"],
            "grpc.reflection.v1alpha.ServerReflection.ServerReflectionInfo": ["grpc/reflection/v1alpha/reflection.proto"],
            "test.more.Holder.count": ["test/more.proto", "test/base.proto"],
            "test.Base.KIND_A": ["test/base.proto"],
        ]
        try await withReflection(version) { stream in
            for (symbol, files) in expected.sorted(by: { $0.key < $1.key }) {
                let response = try await stream.ask(.make(.fileContainingSymbol(symbol)))
                #expect(Self.files(response) == files, "\(symbol)")
            }
        }
    }

    @Test("unknown files and symbols get a NOT_FOUND error_response and the stream goes on",
          arguments: ReflectionVersion.allCases)
    func notFound(version: ReflectionVersion) async throws {
        try await withReflection(version) { stream in
            for query: ReflectionRequest.MessageRequest in [
                .fileContainingSymbol("capstan.v1.Nope"),
                .fileContainingSymbol("capstan.v1"),  // a package is not a symbol
                .fileContainingSymbol("capstan.v1.PodPhase.POD_PHASE_RUNNING"),  // values are the enum's siblings
                .fileByFilename("capstan/v1/nope.proto"),
                .fileByFilename("pod.proto"),
            ] {
                let request = ReflectionRequest.make(query, host: "h")
                let response = try await stream.ask(request)
                #expect(Self.error(response)?.code == Int32(RPCCode.notFound.rawValue), "\(query)")
                #expect(Self.error(response)?.message.isEmpty == false)
                #expect(response.originalRequest == request)
                #expect(response.validHost == "h")
            }
            let after = try await stream.ask(.make(.fileContainingSymbol("capstan.v1.Pods")))
            #expect(Self.files(after) == Self.podFiles)
        }
    }

    @Test("extension queries: numbers of a known message, NOT_FOUND for other types and numbers",
          arguments: ReflectionVersion.allCases)
    func extensions(version: ReflectionVersion) async throws {
        try await withReflection(version) { stream in
            let pod = try await stream.ask(.make(.allExtensionNumbersOfType("capstan.v1.Pod")))
            guard case .allExtensionNumbersResponse(let podNumbers)? = pod.messageResponse else {
                Issue.record("expected all_extension_numbers_response, got \(String(describing: pod.messageResponse))")
                return
            }
            #expect(podNumbers.baseTypeName == "capstan.v1.Pod")
            #expect(podNumbers.extensionNumber.isEmpty)

            let base = try await stream.ask(.make(.allExtensionNumbersOfType("test.Base")))
            #expect(base.allExtensionNumbersResponse.baseTypeName == "test.Base")
            #expect(base.allExtensionNumbersResponse.extensionNumber == [100, 101])

            #expect(Self.files(try await stream.ask(.make(Self.extensionRequest("test.Base", 100)))) == ["test/base.proto"])
            #expect(Self.files(try await stream.ask(.make(Self.extensionRequest("test.Base", 101))))
                == ["test/more.proto", "test/base.proto"])

            let notFound: [ReflectionRequest.MessageRequest] = [
                .allExtensionNumbersOfType("capstan.v1.Pods"),  // a service, not a message
                .allExtensionNumbersOfType("capstan.v1.PodPhase"),  // an enum
                .allExtensionNumbersOfType("capstan.v1.Nope"),
                Self.extensionRequest("capstan.v1.Pod", 1),
                Self.extensionRequest("test.Base", 150),
                Self.extensionRequest("capstan.v1.Nope", 100),
            ]
            for query in notFound {
                let response = try await stream.ask(.make(query))
                #expect(Self.error(response)?.code == Int32(RPCCode.notFound.rawValue), "\(query)")
            }
        }
    }

    @Test("a request with no query gets UNIMPLEMENTED, as grpc answers it", arguments: ReflectionVersion.allCases)
    func emptyRequest(version: ReflectionVersion) async throws {
        try await withReflection(version) { stream in
            var request = ReflectionRequest()
            request.host = "h"
            let response = try await stream.ask(request)
            #expect(Self.error(response)?.code == Int32(RPCCode.unimplemented.rawValue))
            #expect(response.originalRequest == request)
            #expect(Self.files(try await stream.ask(.make(.fileByFilename("capstan/v1/meta.proto"))))
                == ["capstan/v1/meta.proto", "google/protobuf/timestamp.proto"])
        }
    }

    @Test("several requests sent ahead on one stream are answered in order", arguments: ReflectionVersion.allCases)
    func pipelined(version: ReflectionVersion) async throws {
        let requests: [ReflectionRequest] = [
            .make(.listServices(""), host: "a"),
            .make(.fileContainingSymbol("capstan.v1.Nope"), host: "b"),
            .make(.fileByFilename("capstan/v1/pod.proto"), host: "c"),
            .make(.fileContainingSymbol("grpc.health.v1.Health.Watch"), host: "d"),
            .make(.allExtensionNumbersOfType("capstan.v1.Minion"), host: "e"),
        ]
        try await withReflection(version) { stream in
            for request in requests { try await stream.send(request) }
            var responses: [ReflectionResponse] = []
            for _ in requests {
                guard let response = try await stream.receive() else { break }
                responses.append(response)
            }
            #expect(responses.map(\.originalRequest) == requests)
            #expect(responses.map(\.validHost) == ["a", "b", "c", "d", "e"])
            #expect(responses[0].listServicesResponse.service.count == 5)
            #expect(Self.error(responses[1])?.code == Int32(RPCCode.notFound.rawValue))
            #expect(Self.files(responses[2]) == Self.podFiles)
            #expect(Self.files(responses[3]) == ["grpc/health/v1/health.proto"])
            #expect(responses[4].allExtensionNumbersResponse.baseTypeName == "capstan.v1.Minion")
        }
    }

    @Test("addStandardServices registers health and both reflection packages after the app's services")
    func installation() {
        var router = RPCRouter()
        GeneratedServiceTests.PodStore().register(on: &router)
        let reflection = router.addStandardServices(health: HealthService(), descriptors: CapstanFileDescriptors.all)
        router.unary(Echo.get) { request, _ in request }  // registered later: served, not listed
        #expect(reflection.services == [
            "capstan.v1.Pods", "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection",
        ])
        #expect(router.services.map(\.name) == reflection.services + [Echo.get.service])
        #expect(router.method(for: "/grpc.health.v1.Health/Watch")?.kind == .serverStreaming)
        #expect(router.method(for: "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")?.kind == .bidirectional)
        #expect(router.method(for: "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")?.kind == .bidirectional)
    }
}
