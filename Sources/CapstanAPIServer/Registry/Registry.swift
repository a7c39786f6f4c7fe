import CapstanAPI
import CapstanRPC
import CapstanStore
import CapstanWire

/// One kind's registry: the generic create, update and delete over the store (objects stored as
/// their protobuf encoding under `ObjectKeys`), and Get/List/Watch from the kind's watch cache
/// (`Registry+Reads.swift`). What differs between kinds comes from `S`.
struct Registry<S: KindStrategy>: Sendable {
    /// An object as stored: decoded (with `metadata.resource_version` set), and its revision.
    struct Stored: Sendable {
        var object: S.Object
        var revision: Int64
    }

    /// The outcome of a write: the object as answered (encoded, with its new resource version).
    struct Written: Sendable {
        var object: S.Object
        var revision: Int64
        var encoded: EncodedMessage<S.Object>
    }

    let store: any Store
    let cache: WatchCache
    let progress: CacheProgress
    let options: APIServerOptions
    /// The store's head for reads after a write of unknown outcome (shared by the registries).
    let head: StoreHead

    /// The kind's keys (the cache's copy: `S.keys` would build the root string on every call).
    var keys: ObjectKeys { cache.codec.keys }

    // MARK: Create

    /// Drops what a client may not set (the strategy's `prepareForCreate`: a status), applies
    /// defaults and server-set fields (uid, creation timestamp, a generated name) and validates.
    /// Throws `invalid` listing every bad field.
    /// Takes `request` consuming, so that a caller handing over its last use spends no copy.
    func prepareForCreate(_ request: consuming S.Object) throws(RegistryError) -> S.Object {
        var object = consume request
        S.prepareForCreate(&object)
        object.applyDefaults()
        // One in-place access: every read of `metadata` from outside CapstanAPI copies it whole.
        Self.setServerFields(&object.metadata)
        try validate(object)
        return object
    }

    private static func setServerFields(_ meta: inout ObjectMeta) {
        // From a valid prefix only: a name made from a bad one would be reported as bad too.
        if meta.name.isEmpty && !meta.generateName.isEmpty && Validation.generateNameViolation(meta.generateName) == nil {
            meta.name = ServerFields.name(prefix: meta.generateName)
        }
        meta.uid = ServerFields.uuid()
        meta.creationTimestamp = ServerFields.now()
        meta.resourceVersion = 0
    }

    /// Stores a prepared object. With `nameWasGenerated`, a name that collides is generated again.
    /// With `unchanged`, only while those keys are at those revisions: if one is not, the store's
    /// `notFound` or `conflict` naming it comes back as `.store`.
    nonisolated(nonsending) func insert(
        _ prepared: consuming S.Object, nameWasGenerated: Bool, unchanged: [KeyRevision] = []
    ) async throws(RegistryError) -> Written {
        var object = consume prepared
        for attempt in 1...8 {
            let bytes = try encode(object)
            // One copy of the metadata: each read of `object.metadata` outside CapstanAPI copies it
            // whole (a retain of every field).
            let meta = object.metadata
            let (namespace, name) = (meta.namespace, meta.name)
            let key = keys.key(namespace: namespace, name: name)
            let revision: Int64
            expectWrite(object, labels: meta.labels, key: key, bytes: bytes)
            do throws(StoreError) {
                revision = try await store.create(key, value: bytes, lease: 0, unchanged: unchanged)
            } catch .alreadyExists where nameWasGenerated && attempt < 8 {
                cache.forgetWrite(key: key, value: bytes)
                object.metadata.name = ServerFields.name(prefix: object.metadata.generateName)
                continue
            } catch .alreadyExists {
                cache.forgetWrite(key: key, value: bytes)
                throw .alreadyExists(kind: S.kind, namespace: namespace, name: name)
            } catch {
                cache.forgetWrite(key: key, value: bytes)
                throw .store(error)
            }
            return try written(consume object, bytes: bytes, revision: revision)
        }
        throw .alreadyExists(kind: S.kind, namespace: object.metadata.namespace, name: object.metadata.name)
    }

    nonisolated(nonsending) func create(_ request: consuming S.Object) async throws(RegistryError) -> Written {
        let nameWasGenerated = request.metadata.name.isEmpty
        return try await insert(try prepareForCreate(consume request), nameWasGenerated: nameWasGenerated)
    }

    // MARK: Update

    /// The stored object at `namespace`/`name`, straight from the store.
    nonisolated(nonsending) func read(namespace: String, name: String) async throws(RegistryError) -> Stored {
        // While the host's probe finds the store failing, the write this read prepares is
        // refused at once, as a create is: the store's own read retries would hold it for
        // seconds (about 6.5 s on etcd) before the same UNAVAILABLE.
        try requirePossible(namespace: namespace, name: name)
        if let failure = progress.storeProbeFailure {
            throw .unavailable(reason: "the store is failing: \(failure)")
        }
        let entry: KeyValue
        do throws(StoreError) {
            entry = try await store.get(keys.key(namespace: namespace, name: name))
        } catch .notFound {
            throw .notFound(kind: S.kind, namespace: namespace, name: name)
        } catch {
            throw .store(error)
        }
        var object = try S.decode(entry.value)
        object.metadata.resourceVersion = UInt64(entry.modRevision)
        return Stored(object: object, revision: entry.modRevision)
    }

    /// Writes `new` over exactly `stored`'s revision; `conflict` if it changed meanwhile. With
    /// `unchanged`, only while those keys are at those revisions: if one is not, the store's
    /// `notFound` or `conflict` naming it comes back as `.store`.
    nonisolated(nonsending) func replace(_ stored: Stored, with new: S.Object, unchanged: [KeyRevision] = [])
        async throws(RegistryError) -> Written
    {
        var object = new
        object.metadata.resourceVersion = 0
        let bytes = try encode(object)
        let meta = object.metadata
        let key = keys.key(namespace: meta.namespace, name: meta.name)
        let revision: Int64
        expectWrite(object, labels: meta.labels, key: key, bytes: bytes)
        do throws(StoreError) {
            revision = try await store.update(
                key, value: bytes, expectedRevision: stored.revision, unchanged: unchanged)
        } catch .conflict(let failed, let current) where failed == key {
            cache.forgetWrite(key: key, value: bytes)
            throw .conflict(kind: S.kind, namespace: meta.namespace, name: meta.name, expected: stored.revision, current: current)
        } catch .notFound(let failed) where failed == key {
            cache.forgetWrite(key: key, value: bytes)
            throw .notFound(kind: S.kind, namespace: meta.namespace, name: meta.name)
        } catch {
            cache.forgetWrite(key: key, value: bytes)
            throw .store(error)
        }
        return try written(consume object, bytes: bytes, revision: revision)
    }

    /// Reads, transforms and compare-and-swaps until it succeeds. With `expected` (a client's
    /// resource version) other than 0, a stored object at another revision fails with `conflict`
    /// instead of being retried; a non-empty `uid` must be the stored object's.
    /// `transform` gets the stored object and returns what to store (it may run several times).
    func update(
        namespace: String, name: String, expected: Int64, uid: String,
        transform: (S.Object) throws(RegistryError) -> S.Object
    ) async throws(RegistryError) -> Written {
        while true {
            let stored = try await read(namespace: namespace, name: name)
            if expected != 0 && expected != stored.revision {
                throw .conflict(kind: S.kind, namespace: namespace, name: name, expected: expected, current: stored.revision)
            }
            if !uid.isEmpty && uid != stored.object.metadata.uid {
                throw .uidMismatch(kind: S.kind, namespace: namespace, name: name, expected: uid, current: stored.object.metadata.uid)
            }
            var new = try transform(stored.object)
            new.metadata.resourceVersion = stored.object.metadata.resourceVersion
            if new == stored.object { return try unchanged(stored) }
            do throws(RegistryError) {
                return try await replace(stored, with: new)
            } catch .conflict where expected == 0 {
                continue
            }
        }
    }

    /// The client's object made ready to replace `old` by an Update-like verb: server-set
    /// metadata copied from `old`, the verb's rules (`prepare`), defaults, validation.
    func prepareForUpdate(
        _ request: S.Object, old: S.Object, prepare: (inout S.Object, S.Object) throws(RegistryError) -> Void
    ) throws(RegistryError) -> S.Object {
        var new = request
        new.metadata.name = old.metadata.name
        new.metadata.namespace = old.metadata.namespace
        new.metadata.uid = old.metadata.uid
        new.metadata.creationTimestamp = old.metadata.creationTimestamp
        new.metadata.generateName = old.metadata.generateName
        // A field the verb may not change is reported with every other bad field, at once.
        var refusal: (error: RegistryError, field: FieldError)?
        do throws(RegistryError) {
            try prepare(&new, old)
        } catch {
            guard case .fieldNotChangeable(_, _, _, let field, let verb, let advice) = error else { throw error }
            refusal = (error, RegistryError.notChangeable(field: field, verb: verb, advice: advice))
        }
        new.applyDefaults()
        guard let refusal else {
            try validate(new)
            return new
        }
        let errors = new.validate().all
        guard !errors.isEmpty else { throw refusal.error }
        throw .invalid(
            kind: S.kind, namespace: new.metadata.namespace, name: new.metadata.name, errors: [refusal.field] + errors)
    }

    /// The generic Update verb.
    nonisolated(nonsending) func update(_ request: S.Object) async throws(RegistryError) -> Written {
        let namespace = S.requestNamespace(request.metadata.namespace)
        let name = try requireName(request.metadata.name, field: "metadata.name", namespace: namespace)
        let expected = try expectedRevision(
            request.metadata.resourceVersion, field: "metadata.resource_version", namespace: namespace, name: name)
        return try await update(namespace: namespace, name: name, expected: expected, uid: request.metadata.uid) {
            (old) throws(RegistryError) in
            try prepareForUpdate(request, old: old) { (new, old) throws(RegistryError) in try S.prepareForUpdate(&new, old: old) }
        }
    }

    // MARK: Delete

    /// Deletes the object; returns it as last stored, at the delete's revision.
    nonisolated(nonsending) func delete(_ request: DeleteRequest) async throws(RegistryError) -> Written {
        let namespace = S.requestNamespace(request.namespace)
        let name = try requireName(request.name, field: "name", namespace: namespace)
        let expected = try expectedRevision(
            request.preconditionResourceVersion, field: "precondition_resource_version", namespace: namespace, name: name)
        try requirePossible(namespace: namespace, name: name)
        let entry: KeyValue
        do throws(StoreError) {
            entry = try await store.delete(keys.key(namespace: namespace, name: name), expectedRevision: expected)
        } catch .notFound {
            throw .notFound(kind: S.kind, namespace: namespace, name: name)
        } catch .conflict(_, let current) {
            throw .conflict(kind: S.kind, namespace: namespace, name: name, expected: expected, current: current)
        } catch {
            throw .store(error)
        }
        return try written(try S.decode(entry.value), bytes: entry.value, revision: entry.modRevision)
    }

    // MARK: Helpers

    /// The answer to an update that changes nothing: the stored object, no write. Its revision
    /// was read from the store, perhaps before the caches applied it, and the client is told it:
    /// it counts for read-your-writes as a write would.
    func unchanged(_ stored: Stored) throws(RegistryError) -> Written {
        try written(stored.object, bytes: try encode(stored.object), revision: stored.revision)
    }

    func validate(_ object: S.Object) throws(RegistryError) {
        let errors = object.validate()
        guard errors.isEmpty else {
            throw .invalid(kind: S.kind, namespace: object.metadata.namespace, name: object.metadata.name, errors: errors.all)
        }
    }

    func requireName(_ name: String, field: FieldPath, namespace: String) throws(RegistryError) -> String {
        guard name.isEmpty else { return name }
        throw .invalid(kind: S.kind, namespace: namespace, name: name, errors: [FieldError(field, "must not be empty")])
    }

    /// NOT_FOUND, without asking the store, for a name or namespace longer than any object's can
    /// be (a DNS-1123 subdomain's 253 characters): as a Get says, and not the store's own limit on
    /// keys, which a 9,000-character name would meet.
    func requirePossible(namespace: String, name: String) throws(RegistryError) {
        guard name.utf8.count > DNS1123.maxSubdomainLength || namespace.utf8.count > DNS1123.maxSubdomainLength else { return }
        throw .notFound(kind: S.kind, namespace: namespace, name: name)
    }

    /// A client's expected resource version (a `uint64` field) as a store revision; INVALID_ARGUMENT
    /// naming `field` when it is larger than any revision can be.
    func expectedRevision(_ version: UInt64, field: FieldPath, namespace: String, name: String) throws(RegistryError) -> Int64 {
        guard let revision = Int64(exactly: version) else {
            let reason = "\(version) is larger than any resource version (at most \(Int64.max))"
            throw .invalid(kind: S.kind, namespace: namespace, name: name, errors: [FieldError(field, reason)])
        }
        return revision
    }

    private func encode(_ object: S.Object) throws(RegistryError) -> [UInt8] {
        let bytes = object.serializedBytes()
        guard bytes.count <= options.maxObjectBytes else {
            throw .tooLarge(kind: S.kind, bytes: bytes.count, limit: options.maxObjectBytes)
        }
        return bytes
    }

    /// Tells the watch cache the selector fields of `object`, about to be stored as `bytes` at
    /// `key`, so that it need not decode the bytes again when the change comes back.
    private func expectWrite(_ object: S.Object, labels: [String: String], key: String, bytes: [UInt8]) {
        cache.expectWrite(key: key, value: bytes, selectorFields: SelectorFields(labels: labels, fields: object.selectableFieldValues))
    }

    /// The answer to a write at `revision`; notes the write for read-your-writes.
    private func written(
        _ object: consuming S.Object, bytes: [UInt8], revision: Int64
    ) throws(RegistryError) -> Written {
        progress.noteWrite(revision)
        object.metadata.resourceVersion = UInt64(revision)
        do {
            let encoded = try ProtoBytes.object(bytes, withResourceVersion: revision)
            return Written(object: consume object, revision: revision, encoded: EncodedMessage(unchecked: encoded))
        } catch {
            throw .internal("\(S.kind) encoding is malformed")
        }
    }
}
