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

    /// A listing whose answer would be larger than the transport's `maxReceiveMessageSize` (large
    /// values, many to a page) is read in smaller pages: a page of `limit` keys may then hold
    /// fewer, with `more` set; a listing without a limit reads every page at one revision and
    /// answers them together. Only a single value over the size limit fails (`invalid`).
    nonisolated(nonsending) public func list(prefix: String, after continueKey: String?, limit: Int, revision: Int64)
        async throws(StoreError) -> ListResult
    {
        guard limit >= 0, revision >= 0 else { throw .invalid(reason: "limit and revision must not be negative") }
        var pageLimit = limit
        var after = continueKey
        var atRevision = revision
        var items: [KeyValue] = []
        while true {
            let page: (result: ListResult, count: Int)
            do throws(StoreError) {
                page = try await range(prefix: prefix, after: after, limit: pageLimit, countOnly: false, revision: atRevision)
            } catch let error where error.isAnswerTooLarge {
                // Half of what the refused answer held: its limit, or the keys left if fewer.
                let left = try await range(prefix: prefix, after: after, limit: 0, countOnly: true, revision: atRevision).count
                let keys = pageLimit > 0 ? min(pageLimit, left) : left
                guard keys > 1 else {
                    let limitName = "EtcdStoreOptions.transport.maxReceiveMessageSize"
                    let detail = error.reason.dropFirst(EtcdErrors.answerTooLarge.count)
                    throw .invalid(reason: "a value under \(prefix) is larger than this client accepts (\(limitName)): \(detail)")
                }
                pageLimit = keys / 2
                continue
            }
            // With a limit, the page as it is (fewer keys than asked when they had to be split).
            if limit > 0 { return page.result }
            items += page.result.items
            atRevision = page.result.revision
            guard page.result.more, let last = page.result.items.last else {
                return ListResult(items: items, revision: atRevision, more: false)
            }
            after = last.key
        }
    }

    /// One Range of the keys under `prefix` after `continueKey`: the page, and etcd's count of
    /// every key in the range (the only answer with `countOnly`).
    private func range(prefix: String, after continueKey: String?, limit: Int, countOnly: Bool, revision: Int64)
        async throws(StoreError) -> (result: ListResult, count: Int)
    {
        let range = try keys.range(prefix: prefix, after: continueKey)
        var request = Etcdserverpb_RangeRequest()
        request.key = range.key
        request.rangeEnd = range.end
        request.limit = Int64(limit)
        request.revision = revision
        request.countOnly = countOnly
        // No sort order: etcd returns keys ascending, and a sort would make it read past the limit.
        let response: Etcdserverpb_RangeResponse
        do {
            response = try await performRead(revision: revision) { [request] rpc in
                try await Etcdserverpb_KV.Client(rpc).range(request)
            }
        } catch {
            throw await resolve(error)
        }
        let result = ListResult(
            items: response.kvs.map(keys.keyValue), revision: revision == 0 ? response.header.revision : revision,
            more: response.more)
        return (result, Int(response.count))
    }

    // MARK: Writes

    nonisolated(nonsending) public func create(_ key: String, value: [UInt8], lease: Int64, unchanged: [KeyRevision])
        async throws(StoreError) -> Int64
    {
        try validate(key)
        guard lease >= 0 else { throw .invalid(reason: "a lease id is positive") }
        let etcdKey = try keys.etcdKey(key)
        let others = try required(unchanged)
        var put = Etcdserverpb_PutRequest()
        put.key = etcdKey
        put.value = value
        put.lease = lease
        let response = try await guardedWrite(
            key, etcdKey, .absent, Etcdserverpb_RequestOp(put), unchanged: others, leaseID: lease)
        return response.header.revision
    }

    nonisolated(nonsending) public func update(
        _ key: String, value: [UInt8], expectedRevision: Int64, unchanged: [KeyRevision]
    ) async throws(StoreError) -> Int64 {
        try validate(key)
        let etcdKey = try keys.etcdKey(key)
        let others = try required(unchanged)
        var put = Etcdserverpb_PutRequest()
        put.key = etcdKey
        put.value = value
        put.ignoreLease = true
        let response = try await guardedWrite(
            key, etcdKey, .present(expectedRevision), Etcdserverpb_RequestOp(put), unchanged: others)
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
        let response = try await guardedWrite(key, etcdKey, .present(expectedRevision), Etcdserverpb_RequestOp(delete))
        guard let previous = response.responses.first?.responseDeleteRange.prevKvs.first else {
            throw .unavailable(reason: "etcd deleted \(key) without returning it")
        }
        var entry = keys.keyValue(previous)
        entry.modRevision = response.header.revision
        return entry
    }

    /// The state a guarded write requires of its own key.
    enum Expectation {
        /// Absent (a create).
        case absent
        /// Present, at this mod revision (any, for 0).
        case present(Int64)
    }

    /// A key a write requires at a mod revision, with its etcd spelling.
    typealias RequiredKey = (key: String, etcdKey: [UInt8], modRevision: Int64)

    /// The etcd keys of `unchanged`, checked.
    private func required(_ unchanged: [KeyRevision]) throws(StoreError) -> [RequiredKey] {
        var others: [RequiredKey] = []
        for other in unchanged {
            try validate(other.key)
            guard other.modRevision > 0 else {
                throw .invalid(reason: "the revision required of \(other.key) must be positive")
            }
            others.append((other.key, try keys.etcdKey(other.key), other.modRevision))
        }
        return others
    }

    /// `operation` if the key is as `expected` and each of `unchanged` is at its mod revision, in
    /// one Txn. Otherwise the failure branch reads every key compared (at the revision the compares
    /// saw) and the first that failed is reported: `alreadyExists` for a create's key, `notFound`,
    /// or `conflict` with the key's current revision.
    private func guardedWrite(
        _ key: String, _ etcdKey: [UInt8], _ expected: Expectation, _ operation: Etcdserverpb_RequestOp,
        unchanged: [RequiredKey] = [], leaseID: Int64 = 0
    ) async throws(StoreError) -> Etcdserverpb_TxnResponse {
        var request = Etcdserverpb_TxnRequest()
        switch expected {
        case .absent:
            request.compare = [Self.compare(etcdKey, .create, .equal, 0)]
        case .present(let revision):
            guard revision >= 0 else { throw .invalid(reason: "a revision is not negative") }
            request.compare = [
                revision == 0
                    ? Self.compare(etcdKey, .create, .greater, 0) : Self.compare(etcdKey, .mod, .equal, revision)
            ]
        }
        request.compare += unchanged.map { Self.compare($0.etcdKey, .mod, .equal, $0.modRevision) }
        request.success = [operation]
        request.failure = ([etcdKey] + unchanged.map(\.etcdKey)).map { compared in
            var read = Etcdserverpb_RangeRequest()
            read.key = compared
            read.keysOnly = true
            return Etcdserverpb_RequestOp(read)
        }
        let response = try await txn(request, leaseID: leaseID)
        if response.succeeded { return response }
        let current = response.responses.map { $0.responseRange.kvs.first?.modRevision }
        guard current.count == 1 + unchanged.count else {
            throw .unavailable(
                reason: "etcd answered a failed Txn on \(key) with \(current.count) reads, not \(1 + unchanged.count)")
        }
        switch (expected, current[0]) {
        case (.absent, .some): throw .alreadyExists(key: key)
        case (.present, nil): throw .notFound(key: key)
        case (.present(let wanted), .some(let revision)) where wanted != 0 && revision != wanted:
            throw .conflict(key: key, currentRevision: revision)
        default: break
        }
        for (other, revision) in zip(unchanged, current.dropFirst()) {
            guard let revision else { throw .notFound(key: other.key) }
            if revision != other.modRevision { throw .conflict(key: other.key, currentRevision: revision) }
        }
        throw .unavailable(reason: "etcd refused the write to \(key) although every key it compared matched")
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
