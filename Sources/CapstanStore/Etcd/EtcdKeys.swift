import CapstanAPI

/// The store's keys in etcd: the key prefix + key, byte for byte.
///
/// With a key prefix (say `/capstan-a`), the store owns the etcd keys under `/capstan-a/`: its keys
/// and list and watch prefixes must start with `/` (the API server's `/registry/…` do), so that
/// listing everything (prefix "") covers `/capstan-a/…` and never another prefix's `/capstan-ab/…`.
struct EtcdKeys: Sendable {
    /// The key prefix without trailing slashes; empty for none.
    let prefix: [UInt8]

    init(prefix: String) throws(StoreError) {
        var bytes = Array(prefix.utf8)
        while bytes.last == UInt8(ascii: "/") { bytes.removeLast() }
        guard bytes.isEmpty || bytes.first == UInt8(ascii: "/") else {
            throw .invalid(reason: "the etcd key prefix \"\(prefix)\" must start with /")
        }
        self.prefix = bytes
    }

    /// The etcd key of a store key (or prefix, when listing).
    func etcdKey(_ key: String) throws(StoreError) -> [UInt8] {
        if !prefix.isEmpty, !key.isEmpty, key.utf8.first != UInt8(ascii: "/") {
            throw .invalid(reason: "\(key) does not start with /, as keys of a store with a key prefix must")
        }
        guard !prefix.isEmpty else { return Array(key.utf8) }
        var bytes = prefix
        bytes.append(contentsOf: key.utf8)
        return bytes
    }

    func storeKey(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.starts(with: prefix) ? bytes[prefix.count...] : bytes[...], as: UTF8.self)
    }

    /// etcd's [key, range_end) for keys under `prefix`, after `continueKey` when given.
    func range(prefix: String, after continueKey: String? = nil) throws(StoreError) -> (key: [UInt8], end: [UInt8]) {
        // Everything: the whole keyspace, or everything under the key prefix and its slash.
        let full = prefix.isEmpty && !self.prefix.isEmpty ? self.prefix + [UInt8(ascii: "/")] : try etcdKey(prefix)
        let end = Self.prefixEnd(full)
        guard let continueKey else { return (full.isEmpty ? [0] : full, end) }
        return (try etcdKey(continueKey) + [0], end)
    }

    /// The first key after every key starting with `bytes` (etcd's `GetPrefixRangeEnd`); `[0]`
    /// (etcd: "every key from the start key on") when there is none.
    static func prefixEnd(_ bytes: [UInt8]) -> [UInt8] {
        var end = bytes
        while let last = end.last {
            if last < 0xff {
                end[end.count - 1] = last + 1
                return end
            }
            end.removeLast()
        }
        return [0]
    }

    func keyValue(_ kv: Mvccpb_KeyValue) -> KeyValue {
        KeyValue(
            key: storeKey(kv.key), value: kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision,
            lease: kv.lease)
    }
}
