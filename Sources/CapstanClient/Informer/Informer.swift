public import CapstanAPI
public import CapstanRPC
import Synchronization

/// A local, indexed copy of one kind (optionally narrowed by namespace and selectors) that
/// follows the API server, and handlers told about every change.
///
/// It lists the kind (every page, at one revision), replaces its cache and tells the handlers
/// what changed (so after a relist they converge: adds, updates and deletes against what they
/// saw before), then watches from the listing's revision with bookmarks. When the watch ends or
/// fails — the server restarted, the connection broke, the server dropped a slow watcher — it
/// resumes from the last revision it saw, after a backoff. Only `OUT_OF_RANGE` (that revision is
/// older than the server's history) makes it list again. An answer no retry can change —
/// `INVALID_ARGUMENT` (a selector the server refuses) or `UNIMPLEMENTED` — stops it: `failure`
/// holds the error and `waitUntilSynced()` throws it.
///
/// Add indexes any time and handlers before `start()`; then read the cache (`get`, `list`,
/// `byIndex`, `snapshot`) from any task. `stop()` ends it (not from inside a handler).
public final class Informer<Object: Resource>: Sendable {
    public let client: ResourceClient<Object>
    public let namespace: String
    public let labelSelector: String
    public let fieldSelector: String
    public let options: InformerOptions

    private enum Phase {
        case idle
        case running(Task<Void, Never>)
        case stopped
        /// Ended by an error no retry can change.
        case failed(RPCError)
    }

    private struct State {
        var cache = InformerCache<Object>()
        var handlers: [InformerHandler<Object>] = []
        var phase = Phase.idle
        var synced = false
        /// The last revision seen: of the listing, an event or a bookmark.
        var revision: UInt64 = 0
        /// A watch with initial events is under way and has not sent the BOOKMARK that ends
        /// them: its objects come in key order, not revision order, so `revision` stays until
        /// the BOOKMARK, and a watch that ends before it needs a listing.
        var initialEventsPending = false
        var statistics = InformerStatistics()
        var syncWaiters: [Int: CheckedContinuation<Void, any Error>] = [:]
        var nextWaiter = 0
        var cancelledWaiters: Set<Int> = []
    }

    private let state = Mutex(State())

    /// An informer of `client`'s kind (see also `ResourceClient.informer`).
    public init(
        _ client: ResourceClient<Object>, namespace: String = "", labelSelector: String = "", fieldSelector: String = "",
        options: InformerOptions = InformerOptions()
    ) {
        self.client = client
        self.namespace = namespace
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.options = options
    }

    // MARK: Setting up

    /// Adds (or replaces) the index `name`: `function` gives the values an object is found
    /// under (`informer.addIndex("host") { [$0.spec.host] }`, then `byIndex("host", "m1")`).
    /// `namespace` and `label` are built in.
    public func addIndex(_ name: String, _ function: @escaping InformerCache<Object>.IndexFunction) {
        state.withLock { $0.cache.addIndex(name, function) }
    }

    /// Adds a handler; only before `start()`.
    public func addHandler(_ handler: InformerHandler<Object>) {
        state.withLock { state in
            guard case .idle = state.phase else {
                preconditionFailure("Informer.addHandler must be called before start()")
            }
            state.handlers.append(handler)
        }
    }

    /// Starts listing and watching on a task of its own. Does nothing if already started or stopped.
    public func start() {
        state.withLock { state in
            guard case .idle = state.phase else { return }
            state.phase = .running(Task { await self.run() })
        }
    }

    /// Stops the informer and waits for its task to end. The cache keeps its last contents.
    /// Must not be called from a handler (the task would wait for itself).
    public func stop() async {
        let task: Task<Void, Never>? = state.withLock { state in
            switch state.phase {
            case .running(let task):
                state.phase = .stopped
                return task
            case .failed:
                return nil
            case .idle, .stopped:
                state.phase = .stopped
                return nil
            }
        }
        task?.cancel()
        await task?.value
        failSyncWaiters()
    }

    // MARK: Reading

    /// Whether the first listing is in the cache and its handlers have run.
    public var hasSynced: Bool { state.withLock { $0.synced } }

    /// The error that ended the informer, if one did (see the type's documentation); the cache
    /// keeps what it held.
    public var failure: RPCError? {
        state.withLock { state in
            if case .failed(let error) = state.phase { return error }
            return nil
        }
    }

    /// Waits until `hasSynced`. Throws `CancellationError` if the calling task is cancelled or
    /// the informer is stopped first, and the informer's `failure` if it ends on one.
    public func waitUntilSynced() async throws {
        let id: Int? = try state.withLock { state in
            if state.synced { return nil }
            if case .stopped = state.phase { throw CancellationError() }
            if case .failed(let error) = state.phase { throw error }
            state.nextWaiter += 1
            return state.nextWaiter
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome: Result<Void, any Error>? = state.withLock { state in
                    if state.cancelledWaiters.remove(id) != nil { return .failure(CancellationError()) }
                    if state.synced { return .success(()) }
                    if case .stopped = state.phase { return .failure(CancellationError()) }
                    if case .failed(let error) = state.phase { return .failure(error) }
                    state.syncWaiters[id] = continuation
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let waiter: CheckedContinuation<Void, any Error>? = state.withLock { state in
                guard let waiter = state.syncWaiters.removeValue(forKey: id) else {
                    state.cancelledWaiters.insert(id)
                    return nil
                }
                return waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
        state.withLock { _ = $0.cancelledWaiters.remove(id) }
    }

    /// The last revision the informer saw (listing, event or bookmark).
    public var resourceVersion: UInt64 { state.withLock { $0.revision } }

    /// What the informer did so far.
    public var statistics: InformerStatistics { state.withLock { $0.statistics } }

    /// A copy of the whole cache, for several consistent lookups.
    public func snapshot() -> InformerCache<Object> { state.withLock { $0.cache } }

    /// The object `name` in `namespace` (empty for cluster-scoped kinds).
    public func get(namespace: String = "", name: String) -> Object? {
        state.withLock { $0.cache[ObjectKey(namespace: namespace, name: name)] }
    }

    /// Every object held, by key.
    public func list() -> [Object] { state.withLock { $0.cache.list() } }

    /// The objects in `namespace`, by key.
    public func list(namespace: String) -> [Object] {
        byIndex(InformerCache<Object>.namespaceIndex, namespace)
    }

    /// The objects (in `namespace`, if not empty) whose labels match `selector`, by key.
    public func list(namespace: String = "", matching selector: LabelSelector) -> [Object] {
        let candidates = namespace.isEmpty ? list() : list(namespace: namespace)
        return candidates.filter { selector.matches($0.metadata.labels) }
    }

    /// The objects labelled `key=value`, by key.
    public func byLabel(_ key: String, _ value: String) -> [Object] {
        byIndex(InformerCache<Object>.labelIndex, "\(key)=\(value)")
    }

    /// The objects found under `value` in index `name`, by key.
    public func byIndex(_ name: String, _ value: String) -> [Object] {
        state.withLock { $0.cache.byIndex(name, value) }
    }

    /// How many objects the cache holds.
    public var count: Int { state.withLock { $0.cache.count } }

    // MARK: Running

    private func run() async {
        var backoff = options.initialBackoff
        var needsList = true
        while !Task.isCancelled {
            var delivered = false
            do {
                if needsList {
                    try await relist()
                    needsList = false
                }
                try await watch {
                    delivered = true
                    backoff = self.options.initialBackoff
                }
                if state.withLock({ $0.initialEventsPending }) { needsList = true }
                // The server ended the watch with OK: resume, at once if it delivered anything.
                if !delivered {
                    guard (try? await Task.sleep(for: backoff * Double.random(in: 0.8...1.2))) != nil else { break }
                    backoff = min(backoff * 2, options.maxBackoff)
                }
            } catch let error as RPCError where error.code == .outOfRange {
                note(error)
                needsList = true
                // A listing that is itself too old (its continue token expired), or whose watch
                // already is (the kind changes faster than a listing takes), is not repeated at
                // once: the pause grows until one keeps up. A watch that delivered lists at once.
                if !delivered {
                    guard (try? await Task.sleep(for: backoff * Double.random(in: 0.8...1.2))) != nil else { break }
                    backoff = min(backoff * 2, options.maxBackoff)
                }
            } catch let error as RPCError where Self.isPermanent(error) {
                if Task.isCancelled { break }
                note(error)
                state.withLock { state in
                    if case .running = state.phase { state.phase = .failed(error) }
                }
                break
            } catch {
                if state.withLock({ $0.initialEventsPending }) { needsList = true }
                if Task.isCancelled { break }
                note(error)
                let jitter = Double.random(in: 0.8...1.2)
                guard (try? await Task.sleep(for: backoff * jitter)) != nil else { break }
                backoff = min(backoff * 2, options.maxBackoff)
            }
        }
        failSyncWaiters()
    }

    /// Answers that the same request will get again however often it is retried.
    static func isPermanent(_ error: RPCError) -> Bool {
        error.code == .invalidArgument || error.code == .unimplemented
    }

    private func note(_ error: any Error) {
        state.withLock { state in
            state.statistics.failures += 1
            state.statistics.lastError = "\(error)"
        }
    }

    /// Lists every page, replaces the cache, tells the handlers, and marks the informer synced.
    private func relist() async throws {
        let listing = try await client.list(
            namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector, pageSize: options.pageSize)
        try Task.checkCancellation()
        let (changes, handlers) = state.withLock { state in
            let changes = state.cache.replace(with: listing.items)
            state.revision = listing.resourceVersion
            state.statistics.lists += 1
            return (changes, state.handlers)
        }
        for change in changes {
            for handler in handlers { await handler.deliver(change) }
        }
        let waiters: [CheckedContinuation<Void, any Error>] = state.withLock { state in
            state.synced = true
            defer { state.syncWaiters.removeAll() }
            return Array(state.syncWaiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Watches from the last revision seen until the stream ends; `progressed` runs on every
    /// event (bookmarks included), and the backoff starts over.
    private func watch(progressed: () -> Void) async throws {
        let from = state.withLock { state in
            // Revision 0 is a store never written: nothing was listed, and a watch "from now"
            // could miss what is written before it starts; ask for the current objects first.
            state.initialEventsPending = state.revision == 0
            return state.revision
        }
        let stream = try await client.watch(
            namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector, resourceVersion: from,
            sendInitialEvents: from == 0, allowBookmarks: true)
        defer { stream.cancel() }
        state.withLock { $0.statistics.watches += 1 }
        for try await event in stream {
            progressed()
            let (change, handlers) = state.withLock { state in
                (apply(event, to: &state), state.handlers)
            }
            if let change {
                for handler in handlers { await handler.deliver(change) }
            }
        }
    }

    /// Applies one watch event to the cache; returns the change handlers must hear about.
    private func apply(_ event: WatchEvent<Object>, to state: inout State) -> CacheChange<Object>? {
        let object = event.object
        if event.type == .bookmark { state.initialEventsPending = false }
        if !state.initialEventsPending { state.revision = max(state.revision, object.metadata.resourceVersion) }
        switch event.type {
        case .added, .modified:
            state.statistics.events += 1
            let previous = state.cache.put(object)
            guard let previous else { return .added(object) }
            if previous.metadata.resourceVersion == object.metadata.resourceVersion { return nil }
            return .updated(old: previous, new: object)
        case .deleted:
            state.statistics.events += 1
            return state.cache.remove(object.objectKey).map { .deleted($0) }
        case .bookmark, .unspecified, .unrecognized:
            return nil
        }
    }

    private func failSyncWaiters() {
        let (waiters, error): ([CheckedContinuation<Void, any Error>], any Error) = state.withLock { state in
            if case .running = state.phase, !Task.isCancelled { return ([], CancellationError()) }
            defer { state.syncWaiters.removeAll() }
            if case .failed(let failure) = state.phase { return (Array(state.syncWaiters.values), failure) }
            return (Array(state.syncWaiters.values), CancellationError())
        }
        for waiter in waiters { waiter.resume(throwing: error) }
    }
}
