import CapstanAPI
import CapstanRPC
import CapstanWire
import Synchronization
import Testing

/// Generated service code (descriptors, `Handler` registration, typed `Client`) carrying real
/// generated messages through protobuf-c encoding over the in-process transport.
@Suite struct GeneratedServiceTests {
    /// A minimal pod store: enough to exercise unary and server-streaming generated methods.
    final class PodStore: Pods.Handler {
        let pods = Mutex<[String: Pod]>([:])

        func create(request: Pod, context: ServerContext) async throws -> Pod {
            try pods.withLock { pods in
                guard pods[request.metadata.name] == nil else {
                    throw RPCError(code: .alreadyExists, message: "pod default/\(request.metadata.name) already exists")
                }
                var pod = request
                pod.metadata.resourceVersion = UInt64(pods.count + 1)
                pods[pod.metadata.name] = pod
                return pod
            }
        }

        func get(request: GetRequest, context: ServerContext) async throws -> Pod {
            guard let pod = pods.withLock({ $0[request.name] }) else {
                throw RPCError(code: .notFound, message: "pod default/\(request.name) not found")
            }
            return pod
        }

        func list(request: ListRequest, context: ServerContext) async throws -> PodList {
            var list = PodList()
            list.items = pods.withLock { $0.values.sorted { $0.metadata.name < $1.metadata.name } }
            return list
        }

        func update(request: Pod, context: ServerContext) async throws -> Pod { try await create(request: request, context: context) }
        func delete(request: DeleteRequest, context: ServerContext) async throws -> Pod { try await get(request: GetRequest(), context: context) }
        func updateStatus(request: Pod, context: ServerContext) async throws -> Pod { request }

        func watch(request: WatchRequest, response: ResponseStream<PodEvent>, context: ServerContext) async throws {
            for pod in pods.withLock({ $0.values.sorted { $0.metadata.name < $1.metadata.name } }) {
                var event = PodEvent()
                event.type = .added
                event.object = pod
                try await response.write(event)
            }
            var bookmark = PodEvent()
            bookmark.type = .bookmark
            try await response.write(bookmark)
        }
    }

    /// etcd's bidirectional Watch, answering each create request with a created response.
    struct EchoWatch: Etcdserverpb_Watch.Handler {
        func watch(
            requests: RequestStream<Etcdserverpb_WatchRequest>, response: ResponseStream<Etcdserverpb_WatchResponse>,
            context: ServerContext
        ) async throws {
            var id: Int64 = 0
            for try await request in requests {
                guard case .createRequest(let create)? = request.requestUnion else { continue }
                id += 1
                var reply = Etcdserverpb_WatchResponse()
                reply.watchId = id
                reply.created = true
                var event = Mvccpb_Event()
                event.kv.key = create.key
                reply.events = [event]
                try await response.write(reply)
            }
        }
    }

    func withServices<T: Sendable>(_ body: @Sendable (RPCClient) async throws -> T) async throws -> T {
        var router = RPCRouter()
        PodStore().register(on: &router)
        EchoWatch().register(on: &router)
        let transport = InProcessTransport()
        let server = RPCServer(router: router)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve(on: transport.server) }
            defer { transport.server.beginGracefulShutdown() }
            return try await body(RPCClient(transport: transport.client))
        }
    }

    @Test func descriptorsNameTheSchema() {
        #expect(Pods.serviceName == "capstan.v1.Pods")
        #expect(Pods.Method.create.path == "/capstan.v1.Pods/Create")
        #expect(Pods.Method.watch.kind == .serverStreaming)
        #expect(Pods.descriptor.methods.map(\.method) == ["Create", "Get", "List", "Update", "Delete", "Watch", "UpdateStatus"])
        #expect(Etcdserverpb_Lease.Method.leaseKeepAlive.kind == .bidirectional)
        #expect(Grpc_Reflection_V1_ServerReflection.Method.serverReflectionInfo.path
            == "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
        #expect(Minions.descriptor.methods.contains { $0.method == "Update" } == false)
    }

    @Test func unaryAndServerStreamingThroughTypedClient() async throws {
        try await withServices { rpc in
            let pods = Pods.Client(rpc)
            var pod = Pod()
            pod.metadata.name = "web-1"
            pod.metadata.labels = ["app": "web", "ünï": "cødé"]
            var container = Container()
            container.name = "nginx"
            container.image = "nginx:1.25"
            pod.spec.containers = [container]
            let created = try await pods.create(pod)
            #expect(created.metadata.resourceVersion == 1)
            #expect(created.spec == pod.spec)
            var get = GetRequest()
            get.name = "web-1"
            #expect(try await pods.get(get) == created)
            get.name = "missing"
            let error = await #expect(throws: RPCError.self) { try await pods.get(get) }
            #expect(error?.code == .notFound)

            var events: [PodEvent] = []
            for try await event in try await pods.watch(WatchRequest()) { events.append(event) }
            #expect(events.map(\.type) == [.added, .bookmark])
            #expect(events.first?.object == created)
        }
    }

    @Test func bidirectionalThroughTypedClient() async throws {
        try await withServices { rpc in
            let call = try await Etcdserverpb_Watch.Client(rpc).watch()
            for key in ["/registry/pods/a", "/registry/pods/b"] {
                var request = Etcdserverpb_WatchRequest()
                var create = Etcdserverpb_WatchCreateRequest()
                create.key = Array(key.utf8)
                request.requestUnion = .createRequest(create)
                try await call.send(request)
            }
            call.closeSend()
            var replies: [Etcdserverpb_WatchResponse] = []
            for try await reply in call.responses { replies.append(reply) }
            #expect(replies.map(\.watchId) == [1, 2])
            #expect(replies.map { String(decoding: $0.events[0].kv.key, as: UTF8.self) } == ["/registry/pods/a", "/registry/pods/b"])
        }
    }
}
