extension ObjectKeys {
    /// The namespace and name of `key`, or nil when it is not one of the kind's keys: what
    /// `parse(_:)` answers, found by comparing and scanning the key's bytes in place (the watch
    /// feed does this for every change).
    func names(of key: String) -> (namespace: String, name: String)? {
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
