public import CapstanAPI
import CapstanRPC

/// One change of a watch: `ADDED`, `MODIFIED`, `DELETED` (the object's last state, with the
/// delete's revision), or `BOOKMARK` (only `object.metadata.resourceVersion` is set).
public struct WatchEvent<Object: Resource>: Sendable {
    public var type: EventType
    public var object: Object

    public init(type: EventType, object: Object) {
        self.type = type
        self.object = object
    }
}

/// A watch in progress: iterate it for the events. It ends when the server ends it (throwing
/// its `RPCError`, e.g. `OUT_OF_RANGE` when the revision is too old); `cancel()` or dropping it
/// ends it from this side. Every event's revision counts as seen by the client (`ReadSession`):
/// its later reads reflect at least the state the watch has shown.
public struct WatchStream<Object: Resource>: AsyncSequence, Sendable {
    public typealias Element = WatchEvent<Object>

    let call: ServerStreamingCall<Object.Event>
    let session: ReadSession

    /// Ends the watch; the server's handler is cancelled.
    public func cancel() { call.cancel() }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: ServerStreamingCall<Object.Event>.AsyncIterator
        let session: ReadSession

        public mutating func next() async throws -> WatchEvent<Object>? {
            guard let event = try await base.next() else { return nil }
            let (type, object) = Object.change(event)
            session.note(object.metadata.resourceVersion)
            return WatchEvent(type: type, object: object)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: call.makeAsyncIterator(), session: session)
    }
}
