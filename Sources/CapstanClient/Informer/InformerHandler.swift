/// What an informer calls when its cache changes. Calls come in event order from the
/// informer's one task, after the cache took the change; a slow handler holds back the
/// informer (and, through the watch's flow control, the server's stream to it).
public struct InformerHandler<Object: Resource>: Sendable {
    public var onAdd: @Sendable (Object) async -> Void
    public var onUpdate: @Sendable (_ old: Object, _ new: Object) async -> Void
    public var onDelete: @Sendable (Object) async -> Void

    public init(
        onAdd: @escaping @Sendable (Object) async -> Void = { _ in },
        onUpdate: @escaping @Sendable (_ old: Object, _ new: Object) async -> Void = { _, _ in },
        onDelete: @escaping @Sendable (Object) async -> Void = { _ in }
    ) {
        self.onAdd = onAdd
        self.onUpdate = onUpdate
        self.onDelete = onDelete
    }

    func deliver(_ change: CacheChange<Object>) async {
        switch change {
        case .added(let object): await onAdd(object)
        case .updated(let old, let new): await onUpdate(old, new)
        case .deleted(let object): await onDelete(object)
        }
    }
}

/// How an informer lists and recovers.
public struct InformerOptions: Sendable {
    /// Items per List page; 0: the server's default.
    public var pageSize: Int
    /// The first pause after a failed list or watch; it doubles up to `maxBackoff` (with ±20 %
    /// jitter) and starts over once a watch delivers an event.
    public var initialBackoff: Duration
    public var maxBackoff: Duration

    public init(pageSize: Int = 0, initialBackoff: Duration = .milliseconds(100), maxBackoff: Duration = .seconds(5)) {
        self.pageSize = pageSize
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
    }
}

/// What an informer did so far (for diagnostics and tests).
public struct InformerStatistics: Sendable, Hashable {
    /// Complete listings: the first, plus one per relist (after `OUT_OF_RANGE`).
    public var lists = 0
    /// Watch streams opened.
    public var watches = 0
    /// Watch events applied (bookmarks excluded).
    public var events = 0
    /// Watches or lists that failed (and were resumed or retried).
    public var failures = 0
    /// The last failure, for logs.
    public var lastError: String?

    public init() {}
}
