/// Where a kind's objects live in the store: `/registry/<resource>/<namespace>/<name>`, or
/// `/registry/<resource>/<name>` for cluster-scoped kinds.
struct ObjectKeys: Sendable, Hashable {
    /// The root every registry key starts with; the watch cache watches it.
    static let registryRoot = "/registry/"

    let resource: String
    let namespaced: Bool
    /// Every key of the kind starts with this (made once: every write and every change the
    /// feed applies needs it).
    let root: String

    init(resource: String, namespaced: Bool) {
        self.resource = resource
        self.namespaced = namespaced
        root = "\(Self.registryRoot)\(resource)/"
    }

    func key(namespace: String, name: String) -> String {
        var key = root
        if namespaced {
            key.reserveCapacity(root.utf8.count + namespace.utf8.count + name.utf8.count + 1)
            key += namespace
            key += "/"
        }
        key += name
        return key
    }

    /// The prefix of the kind's keys in `namespace` ("" means every namespace).
    func prefix(namespace: String) -> String {
        namespaced && !namespace.isEmpty ? "\(root)\(namespace)/" : root
    }

    /// The namespace and name of `key`, or nil when it is not one of the kind's keys.
    func parse(_ key: String) -> (namespace: String, name: String)? {
        guard key.hasPrefix(root) else { return nil }
        let rest = Substring(key.utf8.dropFirst(root.utf8.count))
        let slash = UInt8(ascii: "/")
        if !namespaced { return rest.isEmpty || rest.utf8.contains(slash) ? nil : ("", String(rest)) }
        guard let separator = rest.utf8.firstIndex(of: slash) else { return nil }
        let namespace = rest[..<separator]
        let name = rest[rest.utf8.index(after: separator)...]
        guard !namespace.isEmpty, !name.isEmpty, !name.utf8.contains(slash) else { return nil }
        return (String(namespace), String(name))
    }
}
