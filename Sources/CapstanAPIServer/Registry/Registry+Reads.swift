import CapstanAPI
import CapstanRPC
import CapstanStore

/// Get, List and Watch: served from the watch cache after it reached every write this server
/// acknowledged, and the revision the client asked to read after (`ReadAfter`), if any.
extension Registry {
    /// `after`: the client's `ReadAfter` revision (0: none).
    nonisolated(nonsending) func get(_ request: GetRequest, after: Int64 = 0) async throws(RegistryError)
        -> EncodedMessage<S.Object>
    {
        let (namespace, name) = try target(of: request)
        try await waitToRead(after: after)
        return try cached(namespace: namespace, name: name)
    }

    /// `get` when it needs no waiting (the caches reached every acknowledged write and `after`),
    /// answered on the caller's thread; `nil` when it would have to wait.
    func getImmediately(_ request: GetRequest, after: Int64 = 0) throws(RegistryError) -> EncodedMessage<S.Object>? {
        let (namespace, name) = try target(of: request)
        guard progress.hasReachedWrites, after <= 0 || progress.hasReached(after), progress.uncertainWriteAt == nil
        else { return nil }
        return try cached(namespace: namespace, name: name)
    }

    /// Waits until the caches reached every write this server acknowledged and `after`, and
    /// for a while after a write of unknown outcome a store head taken since
    /// (`CacheProgress.uncertainWriteAt`). A revision past the store's own came from another
    /// store: `readAfterUnknown`, not a wait.
    nonisolated(nonsending) func waitToRead(after: Int64) async throws(RegistryError) {
        try await requireInStore(after) { .readAfterUnknown(requested: $0, current: $1) }
        var revision = max(progress.writeMark, after)
        if let uncertainAt = progress.uncertainWriteAt {
            // A cached answer may be the stale one the client was told to read past.
            if let failure = progress.storeProbeFailure {
                throw .unavailable(
                    reason: "the store is failing (\(failure)), and a recent write's outcome is not known yet")
            }
            do { revision = max(revision, try await head.head(after: uncertainAt)) } catch { throw .store(error) }
        }
        let fence = after > 0 && store.revisionIsShared && !progress.hasReached(after) ? fenceSoon() : nil
        defer { fence?.cancel() }
        try await progress.wait(for: revision, timeout: options.readWaitTimeout)
    }

    /// How long a read after a revision waits for the caches before it moves them on with a
    /// fence write (`fenceSoon`).
    static var readAfterFenceDelay: Duration { .milliseconds(200) }

    /// On a store whose revision others move too (etcd), a client's `ReadAfter` revision may be
    /// another program's write, which no registry event brings: the caches would not reach it
    /// until the next registry write, and the read would wait out its timeout. So a read still
    /// waiting after `readAfterFenceDelay` has the store's head taken through the feed's fence
    /// key (`StoreHead`: one fence write shared by the reads waiting then), whose event moves the
    /// caches past every revision the store had when the read was checked against it
    /// (`requireInStore`, before this). While etcd's watch only lags, such a fence does not
    /// help (its event comes behind the awaited one), but `StoreHead` makes it at most one per
    /// `readAfterFenceDelay` however many reads wait.
    private func fenceSoon() -> Task<Void, Never> {
        let head = head
        let started = ContinuousClock.now
        return Task {
            guard (try? await Task.sleep(for: Self.readAfterFenceDelay)) != nil else { return }
            _ = try? await head.head(after: started)
        }
    }

    /// Throws `refusal(revision, store's revision)` when `revision` is past the store's own: it
    /// came from another store, and waiting for it would never end. The store is asked only when
    /// the caches have not reached `revision` (else the store has too).
    nonisolated(nonsending) private func requireInStore(
        _ revision: Int64, _ refusal: (Int64, Int64) -> RegistryError
    ) async throws(RegistryError) {
        guard revision > 0, !progress.hasReached(revision) else { return }
        let current: Int64
        do { current = try await store.currentRevision() } catch { throw .store(error) }
        if revision > current { throw refusal(revision, current) }
    }

    private func target(of request: GetRequest) throws(RegistryError) -> (namespace: String, name: String) {
        let namespace = S.requestNamespace(request.namespace)
        return (namespace, try requireName(request.name, field: "name", namespace: namespace))
    }

    /// The cached object's encoding (see `WatchCache.encoded`).
    private func cached(namespace: String, name: String) throws(RegistryError) -> EncodedMessage<S.Object> {
        guard let bytes = try cache.encoded(keys.key(namespace: namespace, name: name)) else {
            throw .notFound(kind: S.kind, namespace: namespace, name: name)
        }
        return EncodedMessage(unchecked: bytes)
    }

    /// The selectors of a List or Watch; the namespace only matters for namespaced kinds.
    func filter(namespace: String, labelSelector: String, fieldSelector: String) throws(RegistryError) -> ObjectFilter {
        try ObjectFilter.parse(
            namespace: S.Object.isNamespaced ? namespace : "", labelSelector: labelSelector, fieldSelector: fieldSelector,
            schema: S.Object.fieldSchema)
    }

    /// One page. The first comes from the cache. Later ones (with a continue token) show the
    /// state at the first page's revision, so all pages show one consistent state: from the cache
    /// while its ring holds this kind's changes since that revision, else from the store at it.
    /// The cache is scanned in steps (`WatchCache.scan`), so a selector that matches little of a
    /// large kind does not hold up the other calls on this event loop.
    nonisolated(nonsending) func list(_ request: ListRequest, after: Int64 = 0) async throws(RegistryError)
        -> EncodedMessage<S.List>
    {
        let filter = try filter(namespace: request.namespace, labelSelector: request.labelSelector, fieldSelector: request.fieldSelector)
        guard request.limit >= 0 else {
            throw .invalid(kind: S.kind, namespace: request.namespace, name: "", errors: [FieldError("limit", "must not be negative")])
        }
        let limit = request.limit == 0 ? options.defaultPageSize : Int(clamping: request.limit)
        let prefix = keys.prefix(namespace: filter.namespace)
        var page = PageBuilder(filter: filter, limit: limit, byteBudget: options.maxPageBytes)
        var token: ContinueToken?
        if request.continueToken.isEmpty {
            try await waitToRead(after: after)
        } else {
            token = try ContinueToken(parsing: request.continueToken, prefix: prefix)
        }
        let (end, revision) = try await cache.scan(
            atRevision: token?.revision, prefix: prefix, after: token?.lastKey, into: &page)
        let more: Bool
        switch end {
        case .full: more = true
        case .end: more = false
        case .needsStore(let after):
            // A token from a revision the store never reached (another store, or this one
            // before a restore) is refused as a watch's would be: list again.
            try await requireInStore(revision) { .continueTooNew(requested: $0, current: $1) }
            more = try await storePage(prefix: prefix, revision: revision, after: after, into: &page)
        }
        let next = more ? ContinueToken(revision: revision, lastKey: page.items.last!.key).encoded : ""
        return EncodedMessage(unchecked: ProtoBytes.list(items: page.items.map(\.bytes), revision: revision, continueToken: next))
    }

    /// Goes on filling `page` from the store at the listing's revision, after `after` (nil: from
    /// the first key); whether a matching object follows the page.
    nonisolated(nonsending) private func storePage(
        prefix: String, revision: Int64, after: String?, into page: inout PageBuilder
    ) async throws(RegistryError) -> Bool {
        var after = after
        while true {
            let listed: ListResult
            do throws(StoreError) {
                // In chunks of 64 to 1,000 keys, whatever the limit asked (the page also stops at
                // its byte budget).
                let chunk = min(max(page.limit, 64), 1_000)
                listed = try await store.list(prefix: prefix, after: after, limit: chunk, revision: revision)
            } catch .compacted {
                throw .tooOld(requested: revision)
            } catch {
                throw .store(error)
            }
            for object in cache.cachedObjects(listed.items) {
                after = object.key
                if page.offer(object) { return true }
            }
            if !listed.more { return false }
        }
    }

    /// Streams the watch to `response` until the client goes away, the watcher is dropped, or
    /// the server stops.
    func watch(_ request: WatchRequest, response: ResponseStream<S.Event>, after: Int64 = 0) async throws {
        let filter = try filter(namespace: request.namespace, labelSelector: request.labelSelector, fieldSelector: request.fieldSelector)
        let from = Int64(clamping: request.resourceVersion)
        // A revision the store never reached would make the watch wait silently for ever, so it
        // is refused (the client lists again).
        try await requireInStore(from) { _, current in .tooNew(requested: request.resourceVersion, current: current) }
        try await waitToRead(after: after)
        if request.sendInitialEvents { try await progress.wait(for: from, timeout: options.readWaitTimeout) }
        let prefix = keys.prefix(namespace: filter.namespace)
        let subscription = try cache.watch(
            filter: filter, fromRevision: from, sendInitialEvents: request.sendInitialEvents,
            allowBookmarks: request.allowBookmarks,
            store: { [self] revision, after, page throws(RegistryError) in
                try await storePage(prefix: prefix, revision: revision, after: after, into: &page)
            })
        defer { subscription.stop() }
        // The watch is in place: the headers say so at once (a client retries a watch that fails
        // to start, such as one whose read-after revision is refused, until it has them).
        try await response.sendHeaders()
        // Each wake-up writes what the watcher's queue holds by then as one batch.
        try await subscription.queue.forEachBatch(upTo: 256) { batch in
            var messages: [EncodedMessage<S.Event>] = []
            messages.reserveCapacity(batch.count)
            for bytes in batch { messages.append(EncodedMessage(unchecked: bytes)) }
            try await response.write(contentsOf: messages)
        }
    }
}
