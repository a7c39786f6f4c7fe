import CapstanAPI
import Synchronization

/// One change of one object, as the cache records it for watchers. Its encodings are built at
/// most once per event type and shared by every watcher that receives it.
final class CacheEvent: Sendable {
    let revision: Int64
    let key: String
    /// The object before the change; nil for a create.
    let previous: CachedObject?
    /// The object after the change; nil for a delete.
    let current: CachedObject?
    /// For a delete: the last state, reported at the delete's revision.
    let deleted: CachedObject?
    /// The namespace of the object ("" for a cluster-wide kind), kept apart so that thousands
    /// of watchers comparing it do not copy the objects.
    let namespace: String
    private let encodings = Mutex<[Int32: [UInt8]]>([:])

    init(revision: Int64, key: String, previous: CachedObject?, current: CachedObject?) {
        self.revision = revision
        self.key = key
        self.previous = previous
        self.current = current
        self.deleted = current == nil ? previous?.at(revision: revision) : nil
        self.namespace = current?.namespace ?? previous?.namespace ?? ""
    }

    /// What a watcher selecting `filter` receives, as an encoded `<Kind>Event`, or nil if nothing.
    /// An object that stops matching is DELETED for that watcher, one that starts matching ADDED.
    /// As in Kubernetes' watch cache, such a DELETED carries the object as the watcher last knew
    /// it (its state before the change, which matched the selector) at the change's revision,
    /// just as a delete carries the last state at the delete's revision.
    func delivery(for filter: ObjectFilter) -> [UInt8]? {
        let matchedBefore = previous.map(filter.matches) ?? false
        if let current {
            switch (matchedBefore, filter.matches(current)) {
            case (false, true): return encoded(.added, current)
            case (true, true): return encoded(.modified, current)
            case (true, false): return encoded(.deleted, previous!.at(revision: revision))
            case (false, false): return nil
            }
        }
        guard matchedBefore, let deleted else { return nil }
        return encoded(.deleted, deleted)
    }

    /// The event type a watcher with no selector sees.
    var naturalType: EventType {
        current == nil ? .deleted : (previous == nil ? .added : .modified)
    }

    /// What a watcher of the object's namespace (or of all) with no label or field selector
    /// receives: the event as it happened, the same bytes `delivery(for:)` gives such a filter.
    func naturalDelivery() -> [UInt8] {
        if let current { return encoded(naturalType, current) }
        // A delete always has its last state (`deleted`) where `previous` exists; the state
        // only makes events of a delete for a key it holds.
        return encoded(.deleted, deleted ?? previous!)
    }

    /// The event of `type` with `object` (made only the first time: each type of an event has one
    /// object, since a DELETED is of a delete or of a move out of selectors, never both).
    private func encoded(_ type: EventType, _ object: @autoclosure () -> CachedObject) -> [UInt8] {
        encodings.withLock { encodings in
            if let bytes = encodings[type.rawValue] { return bytes }
            let bytes = ProtoBytes.event(type: type.rawValue, object: object().bytes)
            encodings[type.rawValue] = bytes
            return bytes
        }
    }
}
