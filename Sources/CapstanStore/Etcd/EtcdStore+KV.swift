import CapstanAPI
import CapstanRPC

extension EtcdStore {
    // MARK: Reads

    nonisolated(nonsending) public func get(_ key: String) async throws(StoreError) -> KeyValue {
        try validate(key)
        var request = Etcdserverpb_RangeRequest()
        request.key = try keys.etcdKey(key)
        let response = try await performRead { [request] rpc in try await Etcdserverpb_KV.Client(rpc).range(request) }
        guard let found = response.kvs.first else { throw .notFound(key: key) }
        return keys.keyValue(found)
    }

    nonisolated(nonsending) public func list(prefix: String, after continueKey: String?, limit: Int, revision: Int64)
        async throws(StoreError) -> ListResult
    {
        guard limit >= 0, revision >= 0 else { throw .invalid(reason: "limit and revision must not be negative") }
        let range = try keys.range(prefix: prefix, after: continueKey)
        var request = Etcdserverpb_RangeRequest()
        request.key = range.key
        request.rangeEnd = range.end
        request.limit = Int64(limit)
        request.revision = revision
        // No sort order: etcd returns keys ascending, and a sort would make it read past the limit.
        let response: Etcdserverpb_RangeResponse
        do {
            response = try await performRead(revision: revision) { [request] rpc in
                try await Etcdserverpb_KV.Client(rpc).range(request)
            }
        } catch {
            throw await resolve(error)
        }
        return ListResult(
            items: response.kvs.map(keys.keyValue), revision: revision == 0 ? response.header.revision : revision,
            more: response.more)
    }

    // MARK: Writes

    nonisolated(nonsending) public func create(_ key: String, value: [UInt8], lease: Int64)
        async throws(StoreError) -> Int64
    {
        try validate(key)
        guard lease >= 0 else { throw .invalid(reason: "a lease id is positive") }
        let etcdKey = try keys.etcdKey(key)
        var put = Etcdserverpb_PutRequest()
        put.key = etcdKey
        put.value = value
        put.lease = lease
        var request = Etcdserverpb_TxnRequest()
        request.compare = [Self.compare(etcdKey, .create, .equal, 0)]
        request.success = [Etcdserverpb_RequestOp(put)]
        let response = try await txn(request, leaseID: lease)
        guard response.succeeded else { throw .alreadyExists(key: key) }
        return response.header.revision
    }

    nonisolated(nonsending) public func update(_ key: String, value: [UInt8], expectedRevision: Int64)
        async throws(StoreError) -> Int64
    {
        try validate(key)
        let etcdKey = try keys.etcdKey(key)
        var put = Etcdserverpb_PutRequest()
        put.key = etcdKey
        put.value = value
        put.ignoreLease = true
        let response = try await guardedWrite(key, etcdKey, expectedRevision, Etcdserverpb_RequestOp(put))
        return response.header.revision
    }

    nonisolated(nonsending) public func delete(_ key: String, expectedRevision: Int64)
        async throws(StoreError) -> KeyValue
    {
        try validate(key)
        let etcdKey = try keys.etcdKey(key)
        var delete = Etcdserverpb_DeleteRangeRequest()
        delete.key = etcdKey
        delete.prevKv = true
        let response = try await guardedWrite(key, etcdKey, expectedRevision, Etcdserverpb_RequestOp(delete))
        guard let previous = response.responses.first?.responseDeleteRange.prevKvs.first else {
            throw .unavailable(reason: "etcd deleted \(key) without returning it")
        }
        var entry = keys.keyValue(previous)
        entry.modRevision = response.header.revision
        return entry
    }

    /// `operation` if the key's mod revision is `expectedRevision` (any, for 0) — the key must exist
    /// either way; otherwise the failure branch reads the key: `notFound`, or `conflict` with its
    /// current revision.
    private func guardedWrite(_ key: String, _ etcdKey: [UInt8], _ expectedRevision: Int64, _ operation: Etcdserverpb_RequestOp)
        async throws(StoreError) -> Etcdserverpb_TxnResponse
    {
        guard expectedRevision >= 0 else { throw .invalid(reason: "a revision is not negative") }
        var read = Etcdserverpb_RangeRequest()
        read.key = etcdKey
        read.keysOnly = true
        var request = Etcdserverpb_TxnRequest()
        request.compare = [
            expectedRevision == 0
                ? Self.compare(etcdKey, .create, .greater, 0) : Self.compare(etcdKey, .mod, .equal, expectedRevision)
        ]
        request.success = [operation]
        request.failure = [Etcdserverpb_RequestOp(read)]
        let response = try await txn(request)
        if response.succeeded { return response }
        guard let current = response.responses.first?.responseRange.kvs.first else { throw .notFound(key: key) }
        throw .conflict(key: key, currentRevision: current.modRevision)
    }

    private func txn(_ request: Etcdserverpb_TxnRequest, leaseID: Int64 = 0) async throws(StoreError) -> Etcdserverpb_TxnResponse {
        let kv = kv
        return try await perform(leaseID: leaseID) { [request] in try await kv.txn(request) }
    }

    static func compare(
        _ key: [UInt8], _ target: Etcdserverpb_Compare.CompareTarget, _ result: Etcdserverpb_Compare.CompareResult,
        _ operand: Int64
    ) -> Etcdserverpb_Compare {
        var compare = Etcdserverpb_Compare()
        compare.key = key
        compare.target = target
        compare.result = result
        switch target {
        case .create: compare.createRevision = operand
        case .mod: compare.modRevision = operand
        case .lease: compare.lease = operand
        default: compare.version = operand
        }
        return compare
    }

    func validate(_ key: String) throws(StoreError) {
        try checkOpen()
        if key.isEmpty { throw .invalid(reason: "the key is empty") }
    }
}

extension Etcdserverpb_RequestOp {
    init(_ put: Etcdserverpb_PutRequest) {
        self.init()
        request = .requestPut(put)
    }

    init(_ delete: Etcdserverpb_DeleteRangeRequest) {
        self.init()
        request = .requestDeleteRange(delete)
    }

    init(_ range: Etcdserverpb_RangeRequest) {
        self.init()
        request = .requestRange(range)
    }
}
