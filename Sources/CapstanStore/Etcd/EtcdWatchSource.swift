import CapstanAPI
import CapstanRPC
import Synchronization

/// One store watch on etcd: a bidirectional `Watch` call of its own, read as the consumer pulls
/// (HTTP/2 flow control holds etcd back meanwhile), opened on the first pull.
///
/// - **Start**: `start_revision` is `fromRevision` itself, not `fromRevision + 1`, and events at
///   `fromRevision` are dropped. etcd refuses a watch only when `start_revision` is *below* its
///   compaction revision; asking from `fromRevision` makes it refuse exactly when an event after
///   `fromRevision` may be gone, which is when `Store.watch` must fail with `compacted`.
/// - **Resume**: the source remembers the revision it has delivered through (events, and progress
///   notifications, which etcd sends only once a watcher has caught up). When the call or its
///   connection breaks, or etcd cancels the watch (no leader), it opens a new call from that revision
///   — the transport picks a reachable member — and drops events at or below it: nothing is lost or
///   repeated. A response is taken whole (fragments joined), and etcd keeps all events of one
///   revision in one response, so a revision is never half delivered.
/// - **Bounds**: re-establishing gives up after `watchReconnectTimeout` with `unavailable`; a
///   compacted start fails with `compacted`.
final class EtcdWatchSource: WatchEventSource {
    /// Metadata asking etcd to refuse or end streams on a member without a leader (etcd's
    /// `WithRequireLeader`), so that a cut-off member does not keep a watch silent.
    static let requireLeader: Metadata = ["hasleader": "true"]

    /// One opened call (a class, so that a broken call can be told from its replacement).
    private final class Call: Sendable {
        let rpc: BidirectionalCall<Etcdserverpb_WatchRequest, Etcdserverpb_WatchResponse>
        init(_ rpc: BidirectionalCall<Etcdserverpb_WatchRequest, Etcdserverpb_WatchResponse>) { self.rpc = rpc }
        func cancel() { rpc.cancel() }
    }

    private struct State {
        var buffer = FIFO<WatchEvent>()
        var call: Call?
        /// Every event at or below it has been delivered (or was before the watch's start).
        var delivered: Int64
        /// The revision the watch was asked from.
        let start: Int64
        var cancelled = false
        var failure: StoreError?
        /// Whether a stream was opened before (the next one resumes).
        var opened = false
        /// Since when the watch has been trying to re-establish its stream.
        var brokenSince: ContinuousClock.Instant?
    }

    private let store: EtcdStore
    /// Whether the watcher saw the store at its start revision (`watch(prefix:fromReached:)`):
    /// then a creation answered below the revision followed from means the store went back.
    private let reached: Bool
    private let range: (key: [UInt8], end: [UInt8])
    private let state: Mutex<State>
    let id: UInt64

    init(store: EtcdStore, range: (key: [UInt8], end: [UInt8]), fromRevision: Int64, reached: Bool, id: UInt64) {
        self.reached = reached
        self.store = store
        self.range = range
        self.state = Mutex(State(delivered: fromRevision, start: fromRevision))
        self.id = id
    }

    func next() async throws(StoreError) -> WatchEvent? {
        var delay = store.options.retryDelay
        while true {
            let (event, call, stop) = try state.withLock { (state) throws(StoreError) -> (WatchEvent?, Call?, Bool) in
                if state.cancelled { return (nil, nil, true) }
                if let event = state.buffer.popFirst() { return (event, nil, false) }
                if let failure = state.failure { throw failure }
                return (nil, state.call, false)
            }
            if stop { return nil }
            if let event { return event }
            if Task.isCancelled {
                cancel()
                return nil
            }
            guard let call else {
                do {
                    try await open()
                    delay = store.options.retryDelay
                } catch let behind as StoreBehind {
                    let failure = StoreError.unavailable(reason: behind.description)
                    state.withLock { if $0.failure == nil { $0.failure = failure } }
                    throw failure
                } catch {
                    try await brokenStream(error, delay: &delay)
                }
                continue
            }
            do {
                var responses = call.rpc.responses.makeAsyncIterator()
                guard var response = try await responses.next() else {
                    throw StoreError.unavailable(reason: "etcd ended the watch stream")
                }
                // A response split in fragments is taken whole, or not at all.
                while response.fragment {
                    guard let more = try await responses.next() else {
                        throw StoreError.unavailable(reason: "etcd ended the watch stream within a fragmented response")
                    }
                    response.fragment = more.fragment
                    response.events += more.events
                }
                try await handle(response, on: call)
            } catch {
                if Task.isCancelled || isCancelled {
                    cancel()
                    return nil
                }
                drop(call)
                try await brokenStream(error, delay: &delay)
            }
        }
    }

    /// The next event and those queued behind it, up to `limit`, and past it to the end of the
    /// last one's revision: a response's events are queued together, so a revision with several
    /// events (a multi-key transaction, a lease's expiry) is never handed over in part, and a
    /// consumer that marks progress per batch never marks a revision half applied.
    func nextBatch(limit: Int) async throws(StoreError) -> [WatchEvent]? {
        guard let first = try await next() else { return nil }
        return state.withLock { state in
            var batch = [first]
            while let upcoming = state.buffer.first,
                batch.count < limit || upcoming.revision == batch[batch.count - 1].revision
            {
                batch.append(upcoming)
                _ = state.buffer.popFirst()
            }
            return batch
        }
    }

    private var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// A resumed watch found the store behind what it had delivered.
    private struct StoreBehind: Error, CustomStringConvertible {
        let head: Int64
        let delivered: Int64
        var description: String {
            "etcd is at revision \(head), behind the \(delivered) this watch had reached: it was replaced by an older copy"
        }
    }

    /// Opens a call and asks for the watch from the revision delivered through.
    private func open() async throws {
        try store.checkOpen()
        let call = Call(try await store.watchClient.watch(options: CallOptions(metadata: Self.requireLeader)))
        let (delivered, resuming, deliveredAny) = state.withLock { ($0.delivered, $0.opened, $0.delivered > $0.start) }
        if resuming {
            store.counters.watchResumes.add(1, ordering: .relaxed)
            // etcd accepts a watch from a future revision and stays silent until it comes: on a
            // store that went back (an older copy of it was restored) the resumed watch would
            // wait for the lost revisions. The watcher must hear that its history is gone.
            // (A watch asked from a future revision that has delivered nothing is left waiting.)
            let head = deliveredAny ? try await store.currentRevision() : delivered
            if head < delivered {
                call.cancel()
                throw StoreBehind(head: head, delivered: delivered)
            }
        }
        var create = Etcdserverpb_WatchCreateRequest()
        create.key = range.key
        create.rangeEnd = range.end
        // 0 would mean "from now" to etcd; there is nothing before revision 1.
        create.startRevision = max(1, delivered)
        create.prevKv = true
        create.progressNotify = true
        create.fragment = true
        var request = Etcdserverpb_WatchRequest()
        request.requestUnion = .createRequest(create)
        do {
            try await call.rpc.send(request)
        } catch {
            call.cancel()
            throw error
        }
        let cancelled = state.withLock { state in
            state.opened = true
            if !state.cancelled { state.call = call }
            return state.cancelled
        }
        if cancelled { call.cancel() }
    }

    private func handle(_ response: Etcdserverpb_WatchResponse, on call: Call) async throws {
        if response.compactRevision != 0 {
            let requested = state.withLock { $0.delivered }
            store.knownCompaction.raise(to: response.compactRevision)
            let error = StoreError.compacted(requested: requested, compactedRevision: response.compactRevision)
            state.withLock { $0.failure = error }
            drop(call)
            throw error
        }
        if response.canceled {
            throw StoreError.unavailable(reason: "etcd cancelled the watch: \(response.cancelReason)")
        }
        if response.created {
            // The revision etcd is at as it creates the watch, read after the watch is in place:
            // a restore between the watcher's own check of the store and this point shows here.
            let behind: StoreBehind? = state.withLock { state in
                state.brokenSince = nil
                guard reached, response.hasHeader, response.header.revision < state.delivered else { return nil }
                return StoreBehind(head: response.header.revision, delivered: state.delivered)
            }
            if let behind {
                let failure = StoreError.unavailable(reason: behind.description)
                state.withLock { if $0.failure == nil { $0.failure = failure } }
                drop(call)
                throw failure
            }
        }
        if response.events.isEmpty {
            // A progress notification: every event up to its revision has been sent. Only the
            // periodic ones (`progress_notify`), which etcd queues behind the watcher's events; a
            // broadcast answer to a progress request (watch id -1) is not ordered with them in
            // etcd before 3.4.24 (etcd-io/etcd#15220), and this source never asks for one anyway.
            if !response.created, response.watchId != -1, response.hasHeader {
                state.withLock { $0.delivered = max($0.delivered, response.header.revision) }
            }
            return
        }
        let keys = store.keys
        state.withLock { state in
            for event in response.events where event.kv.modRevision > state.delivered {
                state.buffer.append(Self.watchEvent(event, keys: keys))
            }
            if let last = response.events.last?.kv.modRevision { state.delivered = max(state.delivered, last) }
        }
    }

    /// After a failed open or read: keeps retrying with backoff until the reconnect bound, unless the
    /// failure is final (`compacted`, `invalid`, closed store).
    private func brokenStream(_ error: any Error, delay: inout Duration) async throws(StoreError) {
        let failure = EtcdErrors.storeError(error)
        let now = ContinuousClock.now
        let since = state.withLock { state in
            if state.brokenSince == nil { state.brokenSince = now }
            return state.brokenSince!
        }
        let closed = (try? store.checkOpen()) == nil
        guard EtcdErrors.isRetryable(failure), !closed, now - since < store.options.watchReconnectTimeout else {
            let final: StoreError = closed ? .unavailable(reason: "the store is closed") : await store.resolve(failure)
            state.withLock { if $0.failure == nil { $0.failure = final } }
            throw final
        }
        try? await Task.sleep(for: delay)
        delay = min(delay * 2, store.options.maxRetryDelay)
    }

    private func drop(_ call: Call) {
        call.cancel()
        state.withLock { state in
            if state.call === call { state.call = nil }
        }
    }

    func cancel() {
        let call = state.withLock { state in
            state.cancelled = true
            state.buffer.removeAll()
            defer { state.call = nil }
            return state.call
        }
        call?.cancel()
        store.watches.remove(id)
    }

    static func watchEvent(_ event: Mvccpb_Event, keys: EtcdKeys) -> WatchEvent {
        switch event.type {
        case .delete:
            let previous = event.hasPrevKv ? event.prevKv : nil
            let entry = KeyValue(
                key: keys.storeKey(event.kv.key), value: [], createRevision: previous?.createRevision ?? 0,
                modRevision: event.kv.modRevision, lease: previous?.lease ?? 0)
            return WatchEvent(kind: .delete, entry: entry, prevValue: previous?.value)
        default:
            return WatchEvent(kind: .put, entry: keys.keyValue(event.kv))
        }
    }
}

/// The store's live watches, so that `close()` can end them.
final class WatchRegistry: Sendable {
    private struct Weak {
        weak var source: EtcdWatchSource?
    }

    private let state = Mutex<(next: UInt64, sources: [UInt64: Weak])>((0, [:]))

    func makeID() -> UInt64 {
        state.withLock { state in
            state.next += 1
            return state.next
        }
    }

    func add(_ source: EtcdWatchSource) {
        state.withLock { $0.sources[source.id] = Weak(source: source) }
    }

    func remove(_ id: UInt64) {
        _ = state.withLock { $0.sources.removeValue(forKey: id) }
    }

    func cancelAll() {
        let sources = state.withLock { state in
            defer { state.sources.removeAll() }
            return state.sources.values.compactMap(\.source)
        }
        for source in sources { source.cancel() }
    }
}

extension EtcdStore {
    public func watch(prefix: String, fromRevision: Int64) async throws(StoreError) -> WatchStream {
        try watch(prefix: prefix, from: fromRevision, reached: false)
    }

    /// etcd can be restored from an older backup: each time the watch is set up, the revision
    /// etcd answers its creation with must not be below the one it follows on from.
    public func watch(prefix: String, fromReached revision: Int64) async throws(StoreError) -> WatchStream {
        try watch(prefix: prefix, from: revision, reached: true)
    }

    private func watch(prefix: String, from revision: Int64, reached: Bool) throws(StoreError) -> WatchStream {
        try checkOpen()
        guard revision >= 0 else { throw .invalid(reason: "a watch cannot start before revision 0") }
        let source = EtcdWatchSource(
            store: self, range: try keys.range(prefix: prefix), fromRevision: revision, reached: reached,
            id: watches.makeID())
        watches.add(source)
        return WatchStream(source: source)
    }
}
