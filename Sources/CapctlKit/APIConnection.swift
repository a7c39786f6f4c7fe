import CapstanAPI
import CapstanHTTP2
import CapstanRPC
import CapstanWire

/// capctl's one way to the API server: every call goes through here, with the configured deadline
/// and bearer token. (This is the file to change when a client library with failover, retries and
/// informers takes over.)
final class APIConnection: Sendable {
    let rpc: RPCClient
    private let transport: HTTP2ClientTransport
    private let group: EventLoopGroup
    /// The deadline of every unary call.
    let timeout: Duration
    private let metadata: Metadata
    /// The servers, as given.
    let targets: [String]

    /// Connects lazily to the first reachable of `targets`; `token` becomes `authorization: Bearer`.
    init(targets: [String], token: String?, timeout: Duration) async throws {
        let group = try EventLoopGroup(threads: 1, name: "capctl-loop")
        var configuration = HTTP2ClientTransport.Configuration()
        configuration.connectTimeout = min(timeout, .seconds(20))
        configuration.userAgent = "capctl/\(CapctlVersion.current)"
        // A person is waiting: retry an unreachable server soon (a watch resumes after a restart).
        configuration.backoff = HTTP2ClientTransport.Backoff(initial: .milliseconds(250), maximum: .seconds(2))
        do {
            transport = try HTTP2ClientTransport(targets: targets, configuration: configuration, group: group)
        } catch {
            await group.shutdown()
            throw CapctlError.usage("bad server address in \(targets.joined(separator: ",")): \(error)")
        }
        self.group = group
        self.rpc = RPCClient(transport: transport)
        self.timeout = timeout
        self.targets = targets
        var metadata = Metadata()
        if let token, !token.isEmpty { try metadata.add("authorization", "Bearer \(token)") }
        self.metadata = metadata
    }

    /// Options of a unary call.
    private var unaryOptions: CallOptions { CallOptions(timeout: timeout, metadata: metadata) }

    /// Closes connections and stops the event loop.
    func close() async {
        await transport.close()
        await group.shutdown()
    }

    func get<R: Resource>(_ type: R.Type, namespace: String, name: String) async throws -> R {
        var request = GetRequest()
        request.namespace = namespace
        request.name = name
        return try await rpc.unary(R.getMethod, request, options: unaryOptions)
    }

    /// Every object matching the request, following continue tokens; and the list's revision.
    func list<R: Resource>(_ type: R.Type, _ request: ListRequest) async throws -> (items: [R], revision: UInt64) {
        var request = request
        var items: [R] = []
        var revision: UInt64 = 0
        for _ in 0..<100_000 {
            let page = try await rpc.unary(R.listMethod, request, options: unaryOptions)
            items.append(contentsOf: R.items(of: page))
            revision = R.revision(of: page)
            let next = R.continueToken(of: page)
            if next.isEmpty { break }
            request.continueToken = next
        }
        return (items, revision)
    }

    func create<R: Resource>(_ object: R) async throws -> R {
        try await rpc.unary(R.createMethod, object, options: unaryOptions)
    }

    func update<R: Resource>(_ object: R) async throws -> R {
        guard let method = R.updateMethod else {
            throw CapctlError.other("\(R.kind.plural) cannot be updated: delete and re-create")
        }
        return try await rpc.unary(method, object, options: unaryOptions)
    }

    func delete<R: Resource>(_ type: R.Type, namespace: String, name: String) async throws -> R {
        var request = DeleteRequest()
        request.namespace = namespace
        request.name = name
        return try await rpc.unary(R.deleteMethod, request, options: unaryOptions)
    }

    /// A watch without a deadline (it runs until cancelled); events as (type, object).
    func watch<R: Resource>(_ type: R.Type, _ request: WatchRequest) async throws -> WatchEvents<R> {
        let call = try await rpc.serverStreaming(R.watchMethod, request, options: CallOptions(metadata: metadata))
        return WatchEvents(call: call)
    }

    /// Whether the server answers its health service (`grpc.health.v1.Health/Check`).
    func health() async throws -> Grpc_Health_V1_HealthCheckResponse.ServingStatus {
        let response = try await Grpc_Health_V1_Health.Client(rpc).check(
            Grpc_Health_V1_HealthCheckRequest(), options: unaryOptions)
        return response.status
    }
}

/// The events of a watch, as (type, object).
struct WatchEvents<R: Resource>: AsyncSequence, Sendable {
    typealias Element = (EventType, R)
    let call: ServerStreamingCall<R.Event>

    struct AsyncIterator: AsyncIteratorProtocol {
        var inner: ResponseMessages<R.Event>.AsyncIterator
        mutating func next() async throws -> (EventType, R)? {
            guard let event = try await inner.next() else { return nil }
            return R.unpack(event)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(inner: call.makeAsyncIterator()) }
    func cancel() { call.cancel() }
}

/// What capctl needs of an API kind: its methods and how its lists and events carry objects.
protocol Resource: APIObject, WireMessage, TableRows {
    associatedtype List: WireMessage
    associatedtype Event: WireMessage
    static var kind: Kind { get }
    static var createMethod: MethodDescriptor<Self, Self> { get }
    static var getMethod: MethodDescriptor<GetRequest, Self> { get }
    static var listMethod: MethodDescriptor<ListRequest, List> { get }
    static var updateMethod: MethodDescriptor<Self, Self>? { get }
    static var deleteMethod: MethodDescriptor<DeleteRequest, Self> { get }
    static var watchMethod: MethodDescriptor<WatchRequest, Event> { get }
    static func items(of list: List) -> [Self]
    static func revision(of list: List) -> UInt64
    static func continueToken(of list: List) -> String
    static func unpack(_ event: Event) -> (EventType, Self)
}

extension Pod: Resource {
    static var kind: Kind { .pod }
    static var createMethod: MethodDescriptor<Pod, Pod> { Pods.Method.create }
    static var getMethod: MethodDescriptor<GetRequest, Pod> { Pods.Method.get }
    static var listMethod: MethodDescriptor<ListRequest, PodList> { Pods.Method.list }
    static var updateMethod: MethodDescriptor<Pod, Pod>? { Pods.Method.update }
    static var deleteMethod: MethodDescriptor<DeleteRequest, Pod> { Pods.Method.delete }
    static var watchMethod: MethodDescriptor<WatchRequest, PodEvent> { Pods.Method.watch }
    static func items(of list: PodList) -> [Pod] { list.items }
    static func revision(of list: PodList) -> UInt64 { list.resourceVersion }
    static func continueToken(of list: PodList) -> String { list.continueToken }
    static func unpack(_ event: PodEvent) -> (EventType, Pod) { (event.type, event.object) }
}

extension ReplicationController: Resource {
    static var kind: Kind { .replicationController }
    static var createMethod: MethodDescriptor<ReplicationController, ReplicationController> { ReplicationControllers.Method.create }
    static var getMethod: MethodDescriptor<GetRequest, ReplicationController> { ReplicationControllers.Method.get }
    static var listMethod: MethodDescriptor<ListRequest, ReplicationControllerList> { ReplicationControllers.Method.list }
    static var updateMethod: MethodDescriptor<ReplicationController, ReplicationController>? { ReplicationControllers.Method.update }
    static var deleteMethod: MethodDescriptor<DeleteRequest, ReplicationController> { ReplicationControllers.Method.delete }
    static var watchMethod: MethodDescriptor<WatchRequest, ReplicationControllerEvent> { ReplicationControllers.Method.watch }
    static func items(of list: ReplicationControllerList) -> [ReplicationController] { list.items }
    static func revision(of list: ReplicationControllerList) -> UInt64 { list.resourceVersion }
    static func continueToken(of list: ReplicationControllerList) -> String { list.continueToken }
    static func unpack(_ event: ReplicationControllerEvent) -> (EventType, ReplicationController) { (event.type, event.object) }
}

extension Service: Resource {
    static var kind: Kind { .service }
    static var createMethod: MethodDescriptor<Service, Service> { Services.Method.create }
    static var getMethod: MethodDescriptor<GetRequest, Service> { Services.Method.get }
    static var listMethod: MethodDescriptor<ListRequest, ServiceList> { Services.Method.list }
    static var updateMethod: MethodDescriptor<Service, Service>? { Services.Method.update }
    static var deleteMethod: MethodDescriptor<DeleteRequest, Service> { Services.Method.delete }
    static var watchMethod: MethodDescriptor<WatchRequest, ServiceEvent> { Services.Method.watch }
    static func items(of list: ServiceList) -> [Service] { list.items }
    static func revision(of list: ServiceList) -> UInt64 { list.resourceVersion }
    static func continueToken(of list: ServiceList) -> String { list.continueToken }
    static func unpack(_ event: ServiceEvent) -> (EventType, Service) { (event.type, event.object) }
}

extension Endpoints: Resource {
    static var kind: Kind { .endpoints }
    static var createMethod: MethodDescriptor<Endpoints, Endpoints> { EndpointsRegistry.Method.create }
    static var getMethod: MethodDescriptor<GetRequest, Endpoints> { EndpointsRegistry.Method.get }
    static var listMethod: MethodDescriptor<ListRequest, EndpointsList> { EndpointsRegistry.Method.list }
    static var updateMethod: MethodDescriptor<Endpoints, Endpoints>? { EndpointsRegistry.Method.update }
    static var deleteMethod: MethodDescriptor<DeleteRequest, Endpoints> { EndpointsRegistry.Method.delete }
    static var watchMethod: MethodDescriptor<WatchRequest, EndpointsEvent> { EndpointsRegistry.Method.watch }
    static func items(of list: EndpointsList) -> [Endpoints] { list.items }
    static func revision(of list: EndpointsList) -> UInt64 { list.resourceVersion }
    static func continueToken(of list: EndpointsList) -> String { list.continueToken }
    static func unpack(_ event: EndpointsEvent) -> (EventType, Endpoints) { (event.type, event.object) }
}

extension Minion: Resource {
    static var kind: Kind { .minion }
    static var createMethod: MethodDescriptor<Minion, Minion> { Minions.Method.create }
    static var getMethod: MethodDescriptor<GetRequest, Minion> { Minions.Method.get }
    static var listMethod: MethodDescriptor<ListRequest, MinionList> { Minions.Method.list }
    /// Minions have no Update (API.md): capctl says so before calling.
    static var updateMethod: MethodDescriptor<Minion, Minion>? { nil }
    static var deleteMethod: MethodDescriptor<DeleteRequest, Minion> { Minions.Method.delete }
    static var watchMethod: MethodDescriptor<WatchRequest, MinionEvent> { Minions.Method.watch }
    static func items(of list: MinionList) -> [Minion] { list.items }
    static func revision(of list: MinionList) -> UInt64 { list.resourceVersion }
    static func continueToken(of list: MinionList) -> String { list.continueToken }
    static func unpack(_ event: MinionEvent) -> (EventType, Minion) { (event.type, event.object) }
}
