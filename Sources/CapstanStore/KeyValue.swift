/// A key's stored state.
public struct KeyValue: Sendable, Hashable {
    public var key: String
    public var value: [UInt8]
    /// Revision of the write that created this incarnation of the key.
    public var createRevision: Int64
    /// Revision of the key's last write (for a deleted entry: the delete's revision).
    public var modRevision: Int64
    /// Lease the key is attached to; 0 for none.
    public var lease: Int64

    public init(key: String, value: [UInt8], createRevision: Int64, modRevision: Int64, lease: Int64 = 0) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.lease = lease
    }
}

/// A key at a mod revision: what a conditional write requires to be still current.
public struct KeyRevision: Sendable, Hashable {
    public var key: String
    public var modRevision: Int64

    public init(key: String, modRevision: Int64) {
        self.key = key
        self.modRevision = modRevision
    }
}

/// One page of a listing.
public struct ListResult: Sendable, Hashable {
    /// Keys in ascending byte order.
    public var items: [KeyValue]
    /// The revision this page reflects; pass it back with `continueKey` for the next page.
    public var revision: Int64
    /// Whether keys after the last item remain.
    public var more: Bool

    public init(items: [KeyValue], revision: Int64, more: Bool) {
        self.items = items
        self.revision = revision
        self.more = more
    }

    /// The key to list after for the next page, when `more`.
    public var continueKey: String? { more ? items.last?.key : nil }
}

/// A change seen by a watch.
public struct WatchEvent: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case put
        case delete
    }

    public var kind: Kind
    /// For a put, the key as written. For a delete: the key, an empty value, the deleted incarnation's
    /// create revision and lease, and the delete's revision as `modRevision`.
    public var entry: KeyValue
    /// For a delete, the value the key held before it; nil for puts.
    public var prevValue: [UInt8]?

    public init(kind: Kind, entry: KeyValue, prevValue: [UInt8]? = nil) {
        self.kind = kind
        self.entry = entry
        self.prevValue = prevValue
    }

    /// The revision of the write this event reports.
    public var revision: Int64 { entry.modRevision }
    /// Whether this put created the key.
    public var isCreate: Bool { kind == .put && entry.createRevision == entry.modRevision }
}
