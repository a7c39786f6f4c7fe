import CapstanAPI
import CapstanClient
import CapstanHTTP2
import CapstanRPC
import CapstanWire

/// capctl's one way to the API server: every call goes through the `CapstanClient` library, with
/// its failover between the configured servers, retries of reads (and of writes that never
/// reached a server), and the configured deadline and bearer token.
final class APIConnection: Sendable {
    let client: CapstanClient
    /// The deadline of every unary call.
    let timeout: Duration
    /// The servers, as given.
    let targets: [String]

    /// Connects lazily to the first reachable of `targets`; `token` becomes `authorization: Bearer`.
    init(targets: [String], token: String?, timeout: Duration) async throws {
        var transport = ClientOptions.defaultTransport
        // Each server gets its share of the deadline to connect (at most 5 s), so that one that
        // accepts TCP but never answers (a frozen process) leaves time to fail over to the next.
        // (Never under a second, or the whole timeout if shorter: TCP and the HTTP/2 SETTINGS
        // round trip to a remote server.)
        transport.connectTimeout = max(min(timeout / max(targets.count, 1), .seconds(5)), min(timeout, .seconds(1)))
        transport.userAgent = "capctl/\(CapctlVersion.current)"
        // A person is waiting: retry an unreachable server soon (a watch resumes after a restart).
        transport.backoff = HTTP2ClientTransport.Backoff(initial: .milliseconds(250), maximum: .seconds(2))
        let options = ClientOptions(
            timeout: timeout, token: token.flatMap { $0.isEmpty ? nil : $0 }, transport: transport)
        do {
            client = try CapstanClient(servers: targets, options: options)
        } catch {
            throw CapctlError.usage("bad server address in \(targets.joined(separator: ",")): \(error)")
        }
        self.timeout = timeout
        self.targets = targets
    }

    /// Closes connections and stops the event loop.
    func close() async {
        await client.close()
    }

    func get<R: CLIResource>(_ type: R.Type, namespace: String, name: String) async throws -> R {
        try await client.resource(R.self).get(namespace: namespace, name: name)
    }

    /// Every object matching the request, following continue tokens; and the list's revision.
    func list<R: CLIResource>(_ type: R.Type, _ request: ListRequest) async throws -> (items: [R], revision: UInt64) {
        let result = try await client.resource(R.self).list(
            namespace: request.namespace, labelSelector: request.labelSelector, fieldSelector: request.fieldSelector,
            pageSize: Int(request.limit))
        return (result.items, result.resourceVersion)
    }

    func create<R: CLIResource>(_ object: R) async throws -> R {
        try await client.resource(R.self).create(object)
    }

    func update<R: CLIResource>(_ object: R) async throws -> R {
        guard let method = R.updateMethod else {
            throw CapctlError.other("\(R.kind.plural) cannot be updated: delete and re-create")
        }
        return try await client.unary(method, object, idempotent: false)
    }

    /// Binds the unscheduled pod `namespace`/`pod` to the minion `host`; the bound pod.
    func bind(namespace: String, pod: String, host: String) async throws -> Pod {
        try await client.bindings.bind(namespace: namespace, pod: pod, host: host)
    }

    func delete<R: CLIResource>(_ type: R.Type, namespace: String, name: String) async throws -> R {
        try await client.resource(R.self).delete(namespace: namespace, name: name)
    }

    /// A watch without a deadline (it runs until cancelled); events as (type, object).
    /// A watch; `timeout`, if given, bounds its start and the whole stream.
    func watch<R: CLIResource>(_ type: R.Type, _ request: WatchRequest, timeout: Duration? = nil) async throws -> WatchEvents<R> {
        WatchEvents(stream: try await client.resource(R.self).watch(request, timeout: timeout))
    }

    /// Whether the server answers its health service (`grpc.health.v1.Health/Check`).
    func health() async throws -> Grpc_Health_V1_HealthCheckResponse.ServingStatus {
        let response = try await client.unary(
            Grpc_Health_V1_Health.Method.check, Grpc_Health_V1_HealthCheckRequest(), idempotent: true)
        return response.status
    }
}

/// The events of a watch, as (type, object).
struct WatchEvents<R: CLIResource>: AsyncSequence, Sendable {
    typealias Element = (EventType, R)
    let stream: WatchStream<R>

    struct AsyncIterator: AsyncIteratorProtocol {
        var inner: WatchStream<R>.AsyncIterator
        mutating func next() async throws -> (EventType, R)? {
            guard let event = try await inner.next() else { return nil }
            return (event.type, event.object)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(inner: stream.makeAsyncIterator()) }
    func cancel() { stream.cancel() }
}

/// What capctl needs of an API kind beyond the client library's `Resource`: its kind table
/// entry, its Update method (none for minions) and how it prints.
protocol CLIResource: Resource, TableRows {
    static var kind: Kind { get }
    static var updateMethod: MethodDescriptor<Self, Self>? { get }
}

extension Pod: CLIResource {
    static var kind: Kind { .pod }
    static var updateMethod: MethodDescriptor<Pod, Pod>? { Pods.Method.update }
}

extension ReplicationController: CLIResource {
    static var kind: Kind { .replicationController }
    static var updateMethod: MethodDescriptor<ReplicationController, ReplicationController>? {
        ReplicationControllers.Method.update
    }
}

extension Service: CLIResource {
    static var kind: Kind { .service }
    static var updateMethod: MethodDescriptor<Service, Service>? { Services.Method.update }
}

extension Endpoints: CLIResource {
    static var kind: Kind { .endpoints }
    static var updateMethod: MethodDescriptor<Endpoints, Endpoints>? { EndpointsRegistry.Method.update }
}

extension Minion: CLIResource {
    static var kind: Kind { .minion }
    /// Minions have no Update (API.md): capctl says so before calling.
    static var updateMethod: MethodDescriptor<Minion, Minion>? { nil }
}
