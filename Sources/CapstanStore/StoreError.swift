/// Every failure a `Store` reports.
public enum StoreError: Error, Sendable, Hashable {
    /// The key (or lease, spelled `lease/<id>`) does not exist.
    case notFound(key: String)
    /// A create found the key present.
    case alreadyExists(key: String)
    /// A compare-and-swap found another revision than expected; carries the key's current mod revision.
    case conflict(key: String, currentRevision: Int64)
    /// The revision asked for is older than the retained history.
    case compacted(requested: Int64, compactedRevision: Int64)
    /// The store cannot serve the request now (closed, I/O error, locked, corrupt); the reason says why.
    case unavailable(reason: String)
    /// The request itself is wrong (empty key, value too large, future revision …).
    case invalid(reason: String)
}

extension StoreError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .notFound(let key): "\(key) not found"
        case .alreadyExists(let key): "\(key) already exists"
        case .conflict(let key, let current): "\(key) was modified: its current revision is \(current)"
        case .compacted(let requested, let compacted):
            "revision \(requested) is too old: history is compacted up to revision \(compacted); list again"
        case .unavailable(let reason): "store unavailable: \(reason)"
        case .invalid(let reason): "invalid request: \(reason)"
        }
    }
}

extension StoreError {
    /// The reason alone, for wrapping in another error's reason (no "store unavailable: " in the middle).
    public var reason: String {
        switch self {
        case .unavailable(let reason), .invalid(let reason): reason
        default: description
        }
    }
}

extension StoreError {
    /// Whether a failed write may still have taken effect: the store could not tell (etcd did not
    /// answer in time, or lost its leader, after the request went out). Every other failure
    /// means the write did not happen.
    public var writeMayHaveTakenEffect: Bool {
        guard case .unavailable(let reason) = self else { return false }
        return reason.hasSuffix(EtcdStore.mayTakeEffect)
    }
}
