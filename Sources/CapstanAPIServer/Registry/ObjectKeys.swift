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

    /// The namespace and name of `key`, or nil when it is not one of the kind's keys. Compares and
    /// scans the key's bytes in place: the watch feed does this for every change.
    func parse(_ key: String) -> (namespace: String, name: String)? {
        let utf8 = key.utf8
        let bytes = utf8.span
        let rootLength = root.utf8.count
        guard bytes.count > rootLength, OrderedKeys.commonPrefixLength(key, root) == rootLength else { return nil }
        let slash = UInt8(ascii: "/")
        var separator = -1
        var index = rootLength
        while index < bytes.count {
            if bytes[index] == slash {
                // A second slash, or one in a cluster-scoped key, makes no key of the kind.
                guard namespaced, separator < 0 else { return nil }
                separator = index
            }
            index += 1
        }
        func text(_ from: Int, _ to: Int) -> String {
            String(Substring(utf8[utf8.index(utf8.startIndex, offsetBy: from)..<utf8.index(utf8.startIndex, offsetBy: to)]))
        }
        guard namespaced else { return ("", text(rootLength, bytes.count)) }
        guard separator > rootLength, separator + 1 < bytes.count else { return nil }
        return (text(rootLength, separator), text(separator + 1, bytes.count))
    }
}
