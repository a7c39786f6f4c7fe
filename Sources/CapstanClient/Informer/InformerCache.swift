import CapstanAPI

/// The objects of one kind by key, with indexes: by namespace, by label (`key=value`) and by
/// any index added with a function from an object to its index values (e.g. a pod's host).
/// A plain value: an `Informer` keeps one behind a lock and hands out copies (`snapshot()`).
public struct InformerCache<Object: Resource>: Sendable {
    /// From an object to the values it is found under in an index. It must depend on the object
    /// alone (the same values each time): an object is taken out of an index under the values
    /// the function gives when it goes, so a function that changes its mind leaves stale entries
    /// (never a crash: lookups skip keys whose object is gone).
    public typealias IndexFunction = @Sendable (Object) -> [String]

    /// The built-in index of namespaces (`byIndex(namespaceIndex, "default")`).
    public static var namespaceIndex: String { "namespace" }
    /// The built-in index of labels, with values `key=value` (`byIndex(labelIndex, "app=web")`).
    public static var labelIndex: String { "label" }

    private(set) var objects: [ObjectKey: Object] = [:]
    private var functions: [String: IndexFunction] = [:]
    /// Index name → value → keys.
    private var indexes: [String: [String: Set<ObjectKey>]] = [:]

    /// An empty cache with the built-in indexes.
    public init() {
        addIndex(Self.namespaceIndex) { [$0.metadata.namespace] }
        addIndex(Self.labelIndex) { object in object.metadata.labels.map { "\($0.key)=\($0.value)" } }
    }

    /// Adds (or replaces) the index `name`, computed over every object held.
    public mutating func addIndex(_ name: String, _ function: @escaping IndexFunction) {
        functions[name] = function
        var index: [String: Set<ObjectKey>] = [:]
        for (key, object) in objects {
            for value in Set(function(object)) { index[value, default: []].insert(key) }
        }
        indexes[name] = index
    }

    /// The names of every index.
    public var indexNames: [String] { functions.keys.sorted() }

    public var count: Int { objects.count }

    /// The object at `key`.
    public subscript(key: ObjectKey) -> Object? { objects[key] }

    /// Every object, by key.
    public func list() -> [Object] {
        objects.sorted { $0.key < $1.key }.map(\.value)
    }

    /// The objects found under `value` in index `name`, by key; none if there is no such index.
    public func byIndex(_ name: String, _ value: String) -> [Object] {
        guard let keys = indexes[name]?[value] else { return [] }
        return keys.sorted().compactMap { objects[$0] }
    }

    /// Every value index `name` holds objects under.
    public func indexValues(_ name: String) -> [String] {
        indexes[name]?.keys.sorted() ?? []
    }

    /// Stores `object` under its key; returns the object it replaced.
    @discardableResult
    public mutating func put(_ object: Object) -> Object? {
        let key = object.objectKey
        let previous = objects.updateValue(object, forKey: key)
        if let previous { unindex(previous, key) }
        index(object, key)
        return previous
    }

    /// Removes the object at `key`; returns it.
    @discardableResult
    public mutating func remove(_ key: ObjectKey) -> Object? {
        guard let previous = objects.removeValue(forKey: key) else { return nil }
        unindex(previous, key)
        return previous
    }

    /// Replaces every object with `listing`; returns what changed, by key: objects only in the
    /// listing were added, objects whose resource version differs were updated, objects missing
    /// from the listing were deleted.
    public mutating func replace(with listing: [Object]) -> [CacheChange<Object>] {
        var changes: [(ObjectKey, CacheChange<Object>)] = []
        var listed = Set<ObjectKey>()
        for object in listing {
            let key = object.objectKey
            listed.insert(key)
            let previous = put(object)
            if let previous {
                if previous.metadata.resourceVersion != object.metadata.resourceVersion {
                    changes.append((key, .updated(old: previous, new: object)))
                }
            } else {
                changes.append((key, .added(object)))
            }
        }
        for key in Array(objects.keys) where !listed.contains(key) {
            if let previous = remove(key) { changes.append((key, .deleted(previous))) }
        }
        return changes.sorted { $0.0 < $1.0 }.map(\.1)
    }

    private mutating func index(_ object: Object, _ key: ObjectKey) {
        for (name, function) in functions {
            for value in Set(function(object)) { indexes[name, default: [:]][value, default: []].insert(key) }
        }
    }

    private mutating func unindex(_ object: Object, _ key: ObjectKey) {
        for (name, function) in functions {
            for value in Set(function(object)) {
                indexes[name]?[value]?.remove(key)
                if indexes[name]?[value]?.isEmpty == true { indexes[name]?[value] = nil }
            }
        }
    }
}

/// A change of a cache, as handlers are told about it.
public enum CacheChange<Object: Resource>: Sendable {
    case added(Object)
    case updated(old: Object, new: Object)
    case deleted(Object)
}
