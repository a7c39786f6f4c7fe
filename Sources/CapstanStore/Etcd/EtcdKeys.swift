import CapstanAPI

/// The store's keys in etcd: `keyPrefix` + key, byte for byte.
struct EtcdKeys: Sendable {
    let prefix: [UInt8]

    init(prefix: String) {
        self.prefix = Array(prefix.utf8)
    }

    func etcdKey(_ key: String) -> [UInt8] { prefix + Array(key.utf8) }

    func storeKey(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.starts(with: prefix) ? bytes[prefix.count...] : bytes[...], as: UTF8.self)
    }

    /// etcd's [key, range_end) for keys under `prefix`, after `continueKey` when given.
    func range(prefix: String, after continueKey: String? = nil) -> (key: [UInt8], end: [UInt8]) {
        let full = etcdKey(prefix)
        let end = Self.prefixEnd(full)
        guard let continueKey else { return (full.isEmpty ? [0] : full, end) }
        return (etcdKey(continueKey) + [0], end)
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
