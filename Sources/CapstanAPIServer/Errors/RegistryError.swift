public import CapstanAPI
public import CapstanStore
import CapstanRPC

/// Every failure of the API server's registries, watch cache and services. `ErrorTable.swift`
/// maps each to its gRPC status (the only place that does).
public enum RegistryError: Error, Sendable, Hashable {
    /// The object does not exist. `kind` is singular ("pod"); `namespace` is empty for
    /// cluster-scoped kinds.
    case notFound(kind: String, namespace: String, name: String)
    /// A create found the name taken.
    case alreadyExists(kind: String, namespace: String, name: String)
    /// The update or delete named a resource version other than the stored one (`expected`), or a
    /// uid of another incarnation of the name.
    case conflict(kind: String, namespace: String, name: String, expected: Int64, current: Int64)
    /// An update or delete named the uid of another incarnation of the name (it was deleted and
    /// created again).
    case uidMismatch(kind: String, namespace: String, name: String, expected: String, current: String)
    /// The object (or request) has invalid fields; every one is listed.
    case invalid(kind: String, namespace: String, name: String, errors: [FieldError])
    /// A verb changed a field of the object `namespace`/`name` that it may not; `advice` says
    /// what to do instead ("use Bindings/Create …").
    case fieldNotChangeable(kind: String, namespace: String, name: String, field: String, verb: String, advice: String)
    /// The kind does not support the verb; `reason` says why.
    case unsupported(reason: String)
    /// A label or field selector did not parse.
    case badSelector(SelectorError)
    /// A continue token that this server did not issue or cannot read.
    case badContinueToken(String)
    /// A watch or paged list asked for history older than what is retained.
    case tooOld(requested: Int64)
    /// A watch asked to start after a revision the store has not reached (`current`): the
    /// revision came from another store, or from this one before it was replaced.
    case tooNew(requested: UInt64, current: Int64)
    /// A continue token's revision is past the store's (`current`): the token came from another
    /// store, or from this one before it was replaced.
    case continueTooNew(requested: Int64, current: Int64)
    /// A read's `ReadAfter` revision is past the store's (`current`): the client saw another
    /// store, or this one before it was replaced.
    case readAfterUnknown(requested: Int64, current: Int64)
    /// A binding for a pod that is already bound.
    case alreadyBound(namespace: String, name: String, host: String)
    /// A service port that another service holds.
    case portInUse(port: Int32, protocol: String, holderNamespace: String, holderName: String)
    /// An updated service lost the claim on its new port (`port`, e.g. "81/TCP") before
    /// confirming it, and the old one (`oldPort`) went to another service meanwhile: it could
    /// keep neither, so it was deleted.
    case serviceDisplaced(namespace: String, name: String, port: String, oldPort: String)
    /// Another update of the same service claimed `port` (e.g. "81/TCP") for it and has not
    /// written the service yet: this update read a version that is about to change.
    case serviceBeingMoved(namespace: String, name: String, port: String)
    /// A watcher fell more than `limit` events behind and was dropped.
    case watcherTooSlow(limit: Int)
    /// A watcher took its initial events (at `revision`) so slowly that neither the cache, which
    /// keeps `events` changes and at most `bytes` of them, nor the store holds every change since.
    case initialEventsTooSlow(revision: Int64, events: Int, bytes: Int)
    /// An object whose encoding exceeds the size limit.
    case tooLarge(kind: String, bytes: Int, limit: Int)
    /// The kind (`resource`, such as "pods") already has `limit` watchers.
    case tooManyWatches(resource: String, limit: Int)
    /// No valid credentials.
    case unauthenticated(reason: String)
    /// The caller's identity may not call `method`.
    case permissionDenied(identity: String, method: String)
    /// The server cannot serve the request now (store down, cache not caught up); retryable.
    case unavailable(reason: String)
    /// A store failure with no registry meaning (mapped by the table too).
    case store(StoreError)
    /// Something that should not happen: stored bytes that do not decode, for instance.
    case `internal`(String)
}

extension RegistryError: CustomStringConvertible {
    public var description: String { rpcError.message }
}

extension RegistryError {
    /// How `fieldNotChangeable` names its field among a request's bad fields.
    static func notChangeable(field: String, verb: String, advice: String) -> FieldError {
        FieldError(FieldPath(field), "cannot be changed by \(verb); \(advice)")
    }
}

/// `namespace/name` for namespaced objects, `name` for cluster-scoped ones.
func objectPath(namespace: String, name: String) -> String {
    namespace.isEmpty ? name : "\(namespace)/\(name)"
}
