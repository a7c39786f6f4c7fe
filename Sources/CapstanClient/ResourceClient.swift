public import CapstanAPI
import CapstanRPC

/// The calls of one kind's service (`client.pods`, `client.minions`, …) with the client's
/// deadline and retry rules: reads are retried on `UNAVAILABLE`, writes only when they never
/// reached a server. `timeout` overrides the client's default deadline for one call. Failures
/// throw `RPCError` with the server's code and message (API.md's error table).
///
/// For namespaced kinds an empty `namespace` means `default` in get, create, update and delete,
/// and all namespaces in list and watch; cluster-scoped kinds (minions) leave it empty.
public struct ResourceClient<Object: Resource>: Sendable {
    let runner: CallRunner

    init(runner: CallRunner) {
        self.runner = runner
    }

    /// The object `name` in `namespace`.
    public func get(namespace: String = "", name: String, timeout: Duration? = nil) async throws -> Object {
        var request = GetRequest()
        request.namespace = namespace
        request.name = name
        return try await runner.unary(Object.getMethod, request, timeout: timeout, .idempotent)
    }

    /// One page of a listing, as the server sends it (`continueToken` names the next page).
    public func list(_ request: ListRequest, timeout: Duration? = nil) async throws -> Object.List {
        let list = try await runner.unary(Object.listMethod, request, timeout: timeout, .idempotent)
        runner.session.note(Object.page(list).resourceVersion)
        return list
    }

    /// Every matching object, read page by page at one revision (the first page's). `timeout`
    /// bounds each page. If the server no longer has that revision (`OUT_OF_RANGE`) the listing
    /// starts over, up to three times.
    public func list(
        namespace: String = "", labelSelector: String = "", fieldSelector: String = "", pageSize: Int = 0,
        timeout: Duration? = nil
    ) async throws -> ListResult<Object> {
        var request = ListRequest()
        request.namespace = namespace
        request.labelSelector = labelSelector
        request.fieldSelector = fieldSelector
        request.limit = Int64(pageSize)
        var restarts = 0
        while true {
            do {
                return try await listPages(request, timeout: timeout)
            } catch let error as RPCError where error.code == .outOfRange && restarts < 3 {
                restarts += 1
            }
        }
    }

    private func listPages(_ first: ListRequest, timeout: Duration?) async throws -> ListResult<Object> {
        var request = first
        var items: [Object] = []
        var revision: UInt64 = 0
        while true {
            let page = Object.page(try await list(request, timeout: timeout))
            items.append(contentsOf: page.items)
            if request.continueToken.isEmpty { revision = page.resourceVersion }
            guard !page.continueToken.isEmpty else { return ListResult(items: items, resourceVersion: revision) }
            request.continueToken = page.continueToken
        }
    }

    /// Creates `object`; returns it as stored (name, uid, resource version set by the server).
    public func create(_ object: Object, timeout: Duration? = nil) async throws -> Object {
        try await runner.unary(Object.createMethod, object, timeout: timeout, .write)
    }

    /// Deletes `name` in `namespace`, only if its resource version is still `precondition` when
    /// that is not 0; returns the object as last stored, with the delete's revision.
    public func delete(
        namespace: String = "", name: String, precondition: UInt64 = 0, timeout: Duration? = nil
    ) async throws -> Object {
        var request = DeleteRequest()
        request.namespace = namespace
        request.name = name
        request.preconditionResourceVersion = precondition
        return try await runner.unary(Object.deleteMethod, request, timeout: timeout, .write)
    }

    /// Watches the kind: the changes after `resourceVersion` (0: from now), or with
    /// `sendInitialEvents` every current object first. Starting the watch (until the server's
    /// response headers say it is in place) is retried like a read, and a refused read-after
    /// revision is forgotten as for a read; later failures end the stream (iterate it to see
    /// them). A server older than these headers answers them with its first event, so against
    /// one (during a rolling upgrade) this returns only once something happens. `timeout`, if given, bounds
    /// the whole watch; by default it has none. Cancel or drop the stream to end it.
    public func watch(
        namespace: String = "", labelSelector: String = "", fieldSelector: String = "", resourceVersion: UInt64 = 0,
        sendInitialEvents: Bool = false, allowBookmarks: Bool = false, timeout: Duration? = nil
    ) async throws -> WatchStream<Object> {
        var request = WatchRequest()
        request.namespace = namespace
        request.labelSelector = labelSelector
        request.fieldSelector = fieldSelector
        request.resourceVersion = resourceVersion
        request.sendInitialEvents = sendInitialEvents
        request.allowBookmarks = allowBookmarks
        return try await watch(request, timeout: timeout)
    }

    /// `watch` with a request message.
    public func watch(_ request: WatchRequest, timeout: Duration? = nil) async throws -> WatchStream<Object> {
        let rpc = runner.rpc
        let call = try await runner.withRetries(Object.watchMethod.path, timeout: timeout, .idempotent) { options in
            let call = try await rpc.serverStreaming(Object.watchMethod, request, options: options)
            // A watch that fails to start answers with its status only (UNAVAILABLE, a refused
            // read-after revision): wait for the headers or that status, within the retries.
            _ = try await call.responseMetadata
            return call
        }
        return WatchStream(call: call, session: runner.session)
    }

    /// An informer for this kind, not yet started (see `Informer`).
    public func informer(
        namespace: String = "", labelSelector: String = "", fieldSelector: String = "",
        options: InformerOptions = InformerOptions()
    ) -> Informer<Object> {
        Informer(self, namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector, options: options)
    }
}

extension ResourceClient where Object: UpdatableResource {
    /// Replaces `object` (named by its metadata); with a non-zero `metadata.resource_version` only
    /// if that is still current (else `ABORTED`). Returns the object as stored.
    public func update(_ object: Object, timeout: Duration? = nil) async throws -> Object {
        try await runner.unary(Object.updateMethod, object, timeout: timeout, .write)
    }
}

extension ResourceClient where Object == Pod {
    /// Replaces only the pod's status (the kubelet's call).
    public func updateStatus(_ pod: Pod, timeout: Duration? = nil) async throws -> Pod {
        try await runner.unary(Pods.Method.updateStatus, pod, timeout: timeout, .write)
    }

    /// Binds the unscheduled pod `name` to `host` (a `Bindings/Create`); returns the bound pod.
    public func bind(namespace: String = "", name: String, host: String, timeout: Duration? = nil) async throws -> Pod {
        try await BindingsClient(runner: runner).bind(namespace: namespace, pod: name, host: host, timeout: timeout)
    }
}

extension ResourceClient where Object == Minion {
    /// The kubelet's heartbeat: replaces only the minion's status.
    public func reportStatus(name: String, status: MinionStatus, timeout: Duration? = nil) async throws -> Minion {
        var report = MinionStatusReport()
        report.name = name
        report.status = status
        return try await runner.unary(Minions.Method.reportStatus, report, timeout: timeout, .write)
    }
}

/// `capstan.v1.Bindings`: places a pod on a minion.
public struct BindingsClient: Sendable {
    let runner: CallRunner

    /// Creates `binding`; returns the bound pod.
    public func create(_ binding: Binding, timeout: Duration? = nil) async throws -> Pod {
        try await runner.unary(Bindings.Method.create, binding, timeout: timeout, .write)
    }

    /// Binds pod `pod` in `namespace` to the minion `host`; returns the bound pod.
    public func bind(namespace: String = "", pod: String, host: String, timeout: Duration? = nil) async throws -> Pod {
        var binding = Binding()
        binding.namespace = namespace
        binding.podName = pod
        binding.host = host
        return try await create(binding, timeout: timeout)
    }
}

/// Every object of a listing and the revision it reflects.
public struct ListResult<Object: Resource>: Sendable {
    public var items: [Object]
    /// The store revision the listing reflects: watch from here to follow it.
    public var resourceVersion: UInt64

    public init(items: [Object], resourceVersion: UInt64) {
        self.items = items
        self.resourceVersion = resourceVersion
    }
}
