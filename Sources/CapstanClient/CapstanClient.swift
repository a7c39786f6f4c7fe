public import CapstanAPI
import CapstanHTTP2
public import CapstanRPC

/// # CapstanClient
///
/// The client library every component uses to talk to the API servers (DESIGN.md, "client"):
/// typed clients for every service, and informers that keep a local, indexed copy of a kind.
///
/// ```swift
/// let client = try CapstanClient(servers: ["127.0.0.1:7443", "127.0.0.1:7444"],
///                                options: ClientOptions(token: "secret"))
/// let pod = try await client.pods.get(namespace: "default", name: "web-1")
/// let pods = try await client.pods.list(namespace: "default", labelSelector: "app=web")
///
/// let informer = client.pods.informer()
/// informer.addIndex("host") { [$0.spec.host] }
/// informer.addHandler(InformerHandler(onAdd: { pod in print("added", pod.metadata.name) }))
/// informer.start()
/// try await informer.waitUntilSynced()
/// let onNode = informer.byIndex("host", "minion-1")
/// …
/// await informer.stop()
/// await client.close()
/// ```
///
/// ## Design
/// - **Calls** (`CallRunner`): every call gets the client's default deadline unless the caller
///   gives one; the deadline covers every attempt. A call that fails with `UNAVAILABLE` is
///   retried, with exponential backoff and jitter, up to `RetryPolicy.maxAttempts` and never past
///   the deadline, when it is idempotent (Get, List, opening a Watch) or when the transport
///   proves the server never processed it (`HTTP2ClientTransport.unprocessedKey`: no server was
///   reachable, the connection closed before the stream went out, REFUSED_STREAM). Creates,
///   updates and deletes that may have reached a server are never repeated. A bearer token goes
///   out as `authorization: Bearer …` on every call.
/// - **Failover**: the HTTP/2 transport holds the server addresses in order; a server that
///   refuses connections is skipped (with backoff) and the next one is used. A lost connection
///   fails its calls with `UNAVAILABLE`; the retry above then reaches the next live server. So
///   does a server's own `UNAVAILABLE` answer (e.g. its store is unreachable): later calls, the
///   retry among them, go to the next server.
/// - **Read after what was seen** (`ReadSession`): the client keeps the newest revision of any
///   object or list it wrote or read and of any watch event it received, and its reads carry it
///   (`ReadAfter`). The server answering waits until its cache has that revision, so after a
///   failover the client still reads its own writes and never an older state than it saw. If
///   the server refuses the revision as newer than its store (the store was replaced), the
///   client forgets it and reads once more.
/// - **Informers** (`Informer/`): list (all pages, one consistent revision), replace the cache
///   and tell the handlers what changed, then watch from the list's revision with bookmarks. When
///   the watch ends or fails it resumes from the last revision seen (events and bookmarks advance
///   it), with backoff; only `OUT_OF_RANGE` (the revision is older than the server's history)
///   makes it list again. The cache (`InformerCache`) indexes objects by key, namespace, label
///   and any index a caller adds; handlers run in event order on the informer's one task, each
///   seeing the cache already updated by its event.
public final class CapstanClient: Sendable {
    /// The options every call uses.
    public let options: ClientOptions
    /// The underlying RPC client (calls made through it get no deadline or retries).
    public let rpc: RPCClient

    /// `capstan.v1.Minions`.
    public let minions: ResourceClient<Minion>
    /// `capstan.v1.Pods`.
    public let pods: ResourceClient<Pod>
    /// `capstan.v1.Services`.
    public let services: ResourceClient<Service>
    /// `capstan.v1.ReplicationControllers`.
    public let replicationControllers: ResourceClient<ReplicationController>
    /// `capstan.v1.EndpointsRegistry`.
    public let endpoints: ResourceClient<Endpoints>
    /// `capstan.v1.Bindings`.
    public let bindings: BindingsClient

    /// Makes every call: token, deadline, retries.
    private let runner: CallRunner

    /// What `close()` shuts down (nil when the caller owns the transport).
    private let owned: (transport: HTTP2ClientTransport, group: EventLoopGroup)?

    /// A client of the API servers at `servers` (`"HOST:PORT"`, several for failover, tried in
    /// order), over its own HTTP/2 connections. Throws `HTTP2TransportError` (`invalidAddress`)
    /// when the list is empty or an entry is not `HOST:PORT`. Call `close()` when done.
    public convenience init(servers: [String], options: ClientOptions = ClientOptions()) throws {
        let group = try EventLoopGroup(threads: 1, name: "capstan-client")
        let transport: HTTP2ClientTransport
        do {
            transport = try HTTP2ClientTransport(targets: servers, configuration: options.transport, group: group)
        } catch {
            Task { await group.shutdown() }
            throw error
        }
        self.init(transport: transport, options: options, owned: (transport, group))
    }

    /// A client over an existing transport (for example an in-process one); the caller closes it.
    public convenience init(transport: any ClientTransport, options: ClientOptions = ClientOptions()) {
        self.init(transport: transport, options: options, owned: nil)
    }

    private init(
        transport: any ClientTransport, options: ClientOptions, owned: (transport: HTTP2ClientTransport, group: EventLoopGroup)?
    ) {
        self.options = options
        self.owned = owned
        rpc = RPCClient(transport: transport)
        let runner = CallRunner(rpc: rpc, options: options)
        self.runner = runner
        minions = ResourceClient(runner: runner)
        pods = ResourceClient(runner: runner)
        services = ResourceClient(runner: runner)
        replicationControllers = ResourceClient(runner: runner)
        endpoints = ResourceClient(runner: runner)
        bindings = BindingsClient(runner: runner)
    }

    /// The typed client of any kind, for code generic over `Resource` (same as `pods` etc.).
    public func resource<Object: Resource>(_ type: Object.Type) -> ResourceClient<Object> {
        ResourceClient(runner: runner)
    }

    /// Any unary method with this client's token, deadline (or `timeout`) and retries:
    /// `idempotent` calls are retried after any `UNAVAILABLE`, others only when the server
    /// provably never processed them.
    public func unary<Request: Sendable, Response: Sendable>(
        _ method: MethodDescriptor<Request, Response>, _ request: Request, idempotent: Bool, timeout: Duration? = nil
    ) async throws -> Response {
        try await runner.unary(method, request, timeout: timeout, idempotent ? .idempotent : .write)
    }

    /// Lets calls in flight finish, then closes the connections (when the client made them).
    /// Stop informers first: their watches count as calls in flight.
    public func close() async {
        guard let owned else { return }
        await owned.transport.close()
        await owned.group.shutdown()
    }
}
