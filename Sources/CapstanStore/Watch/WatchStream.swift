/// The events of one watch, as an `AsyncSequence`; see `Store.watch(prefix:fromRevision:)`.
///
/// Iterate it from one task. Dropping the stream and its iterators (or cancelling the consuming
/// task) ends the watch and frees what it holds in the store.
public struct WatchStream: AsyncSequence, Sendable {
    public typealias Element = WatchEvent
    public typealias Failure = StoreError

    let handle: WatchHandle

    init(source: any WatchEventSource) {
        self.handle = WatchHandle(source: source)
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(handle: handle)
    }

    public struct Iterator: AsyncIteratorProtocol {
        public typealias Element = WatchEvent
        public typealias Failure = StoreError

        let handle: WatchHandle

        public mutating func next() async throws(StoreError) -> WatchEvent? {
            try await handle.source.next()
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async throws(StoreError) -> WatchEvent? {
            try await handle.source.next()
        }

        /// The events that are ready, in order: at least one (waiting for it), at most `limit`;
        /// nil once the watch ended. The same events `next()` would return one by one, for a
        /// consumer that applies many at once.
        public mutating func nextBatch(limit: Int) async throws(StoreError) -> [WatchEvent]? {
            try await handle.source.nextBatch(limit: Swift.max(1, limit))
        }
    }
}

/// What a backend feeds a `WatchStream` from.
protocol WatchEventSource: Sendable {
    /// The next event; nil once the watch ended (cancelled, or after `cancel()`).
    func next() async throws(StoreError) -> WatchEvent?
    /// The next events: at least one, at most `limit` unless more share the last one's
    /// revision (a batch never ends inside a revision); nil once the watch ended.
    func nextBatch(limit: Int) async throws(StoreError) -> [WatchEvent]?
    /// Ends the watch and releases its resources; idempotent.
    func cancel()
}

extension WatchEventSource {
    /// One event at a time, for sources that do not queue (and have one event per revision).
    func nextBatch(limit: Int) async throws(StoreError) -> [WatchEvent]? {
        try await next().map { [$0] }
    }
}

/// Ends the watch when the last stream or iterator holding it goes away.
final class WatchHandle: Sendable {
    let source: any WatchEventSource

    init(source: any WatchEventSource) {
        self.source = source
    }

    deinit {
        source.cancel()
    }
}
