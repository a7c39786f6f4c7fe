/// Where a kind's objects live in the store: `/registry/<resource>/<namespace>/<name>`, or
/// `/registry/<resource>/<name>` for cluster-scoped kinds.
struct ObjectKeys: Sendable, Hashable {
    /// The root every registry key starts with; the watch cache watches it.
    static let registryRoot = "/registry/"

    let resource: String
    let namespaced: Bool

    /// Every key of the kind starts with this.
    var root: String { "\(Self.registryRoot)\(resource)/" }

    func key(namespace: String, name: String) -> String {
        namespaced ? "\(root)\(namespace)/\(name)" : "\(root)\(name)"
    }

    /// The prefix of the kind's keys in `namespace` ("" means every namespace).
    func prefix(namespace: String) -> String {
        namespaced && !namespace.isEmpty ? "\(root)\(namespace)/" : root
    }

    /// The namespace and name of `key`, or nil when it is not one of the kind's keys.
    func parse(_ key: String) -> (namespace: String, name: String)? {
        guard key.hasPrefix(root) else { return nil }
        let rest = key.dropFirst(root.count)
        if !namespaced { return rest.isEmpty || rest.contains("/") ? nil : ("", String(rest)) }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (String(parts[0]), String(parts[1]))
    }
}
