import CapstanAPI
import CapstanStore

/// Keeps one service per (port, protocol): a service first claims its port with a key of its
/// own (`/registry/serviceports/<protocol>/<port>`, created only if absent), then writes itself
/// on the condition that the claim is still at the revision it claimed it at (one store
/// transaction), then marks the claim confirmed.
///
/// Safety: a service is written only while its claim is still the one it took, and a claim
/// taken over or released between that write and its confirmation makes the writer undo the
/// write (delete the created service, put an updated one back), so two services never keep one
/// port. (A takeover decides on a read of the holder's service, which can come just before the
/// holder's write; a release of an earlier move can come late.) Only when the service is gone by
/// then does the write stand. Liveness: a claim whose holder is gone is taken over — a
/// confirmed one when its holder service no longer exists with that port and uid, an unconfirmed
/// one only after `gracePeriod` (its API server died between claiming and writing; the age is
/// judged by the claimer's clock) and if its holder does not exist with the port either (a
/// service write whose outcome was unknown may have succeeded). A failed service write releases
/// its claim only when it certainly did not happen (`releasesClaim`).
struct ServicePortClaims: Sendable {
    /// A held (or being acquired) claim.
    struct Claim: Sendable {
        var key: String
        var revision: Int64
        var record: Record

        /// The claim as a condition of the service's own write.
        var keyRevision: KeyRevision { KeyRevision(key: key, modRevision: revision) }
    }

    /// What a claim key holds.
    struct Record: Sendable, Hashable {
        var confirmed: Bool
        var claimedAt: Int64
        var namespace: String
        var name: String
        var uid: String

        var encoded: [UInt8] {
            Array("\(confirmed ? "bound" : "pending") \(claimedAt) \(namespace) \(name) \(uid)".utf8)
        }

        init(confirmed: Bool, claimedAt: Int64, namespace: String, name: String, uid: String) {
            self.confirmed = confirmed
            self.claimedAt = claimedAt
            self.namespace = namespace
            self.name = name
            self.uid = uid
        }

        init?(_ bytes: [UInt8]) {
            let parts = String(decoding: bytes, as: UTF8.self).split(separator: " ")
            guard parts.count == 5, let claimedAt = Int64(parts[1]) else { return nil }
            self.init(
                confirmed: parts[0] == "bound", claimedAt: claimedAt, namespace: String(parts[2]),
                name: String(parts[3]), uid: String(parts[4]))
        }
    }

    let store: any Store
    let gracePeriod: Duration

    static func key(port: Int32, protocol proto: Protocol) -> String {
        "\(ObjectKeys.registryRoot)serviceports/\(protocolName(proto).lowercased())/\(port)"
    }

    static func protocolName(_ proto: Protocol) -> String {
        proto == .udp ? "UDP" : "TCP"
    }

    /// Claims `service`'s port (unconfirmed); `portInUse` naming the holder if another holds it.
    func acquire(for service: Service) async throws(RegistryError) -> Claim {
        let key = Self.key(port: service.spec.port, protocol: service.spec.protocol)
        let record = Record(
            confirmed: false, claimedAt: ServerFields.now().seconds, namespace: service.metadata.namespace,
            name: service.metadata.name, uid: service.metadata.uid)
        while true {
            do throws(StoreError) {
                let revision = try await store.create(key, value: record.encoded)
                return Claim(key: key, revision: revision, record: record)
            } catch .alreadyExists {
                // Someone holds it: find out whether they still do.
            } catch {
                throw .store(error)
            }
            let entry: KeyValue
            do throws(StoreError) {
                entry = try await store.get(key)
            } catch .notFound {
                continue
            } catch {
                throw .store(error)
            }
            if let holder = Record(entry.value), try await isAlive(holder, port: service.spec.port, protocol: service.spec.protocol) {
                throw .portInUse(
                    port: service.spec.port, protocol: Self.protocolName(service.spec.protocol),
                    holderNamespace: holder.namespace, holderName: holder.name)
            }
            do throws(StoreError) {
                let revision = try await store.update(key, value: record.encoded, expectedRevision: entry.modRevision)
                return Claim(key: key, revision: revision, record: record)
            } catch .conflict, .notFound {
                continue
            } catch {
                throw .store(error)
            }
        }
    }

    /// Whether `holder` still holds its claim on the port.
    private func isAlive(_ holder: Record, port: Int32, protocol proto: Protocol) async throws(RegistryError) -> Bool {
        if !holder.confirmed {
            let age = ServerFields.now().seconds - holder.claimedAt
            if age < gracePeriod.components.seconds { return true }
        }
        let serviceKey = ServiceStrategy.keys.key(namespace: holder.namespace, name: holder.name)
        let entry: KeyValue
        do throws(StoreError) {
            entry = try await store.get(serviceKey)
        } catch .notFound {
            return false
        } catch {
            throw .store(error)
        }
        let service = try ServiceStrategy.decode(entry.value)
        return service.metadata.uid == holder.uid && service.spec.port == port
            && (service.spec.protocol == .udp) == (proto == .udp)
    }

    /// Whether the claim on `port`/`proto` is an unconfirmed one for the service with `uid`
    /// (an update of that service is moving it there and has not confirmed).
    func isPending(port: Int32, protocol proto: Protocol, uid: String) async throws(RegistryError) -> Bool {
        let entry: KeyValue
        do throws(StoreError) {
            entry = try await store.get(Self.key(port: port, protocol: proto))
        } catch .notFound {
            return false
        } catch {
            throw .store(error)
        }
        guard let holder = Record(entry.value) else { return false }
        return !holder.confirmed && holder.uid == uid
    }

    /// `claim` with its holder's name changed (still unconfirmed); nil if it was taken over.
    func rename(_ claim: Claim, to name: String) async throws(RegistryError) -> Claim? {
        try await rewrite(claim) { $0.name = name }
    }

    /// Confirms `claim` after its service was written; false if it changed meanwhile.
    func confirm(_ claim: Claim) async throws(RegistryError) -> Bool {
        try await rewrite(claim) { $0.confirmed = true } != nil
    }

    /// `claim` with its record changed by `change`, written over exactly its revision; nil if
    /// it changed (or went) meanwhile.
    private func rewrite(_ claim: Claim, _ change: (inout Record) -> Void) async throws(RegistryError) -> Claim? {
        var record = claim.record
        change(&record)
        do throws(StoreError) {
            let revision = try await store.update(claim.key, value: record.encoded, expectedRevision: claim.revision)
            return Claim(key: claim.key, revision: revision, record: record)
        } catch .conflict, .notFound {
            return nil
        } catch {
            throw .store(error)
        }
    }

    /// Whether a service write that failed with `error` certainly did not happen, so its claim
    /// may go. A write the store could not vouch for (an etcd timeout, a lost leader) may have
    /// taken effect, and one that failed after the store took it (`internal`) did: the claim then
    /// stays, unconfirmed, and `isAlive` finds its service if the write took effect.
    static func releasesClaim(after error: RegistryError) -> Bool {
        switch error {
        case .store(let error): !error.writeMayHaveTakenEffect
        case .internal: false
        default: true
        }
    }

    /// Releases the claim on `port`/`proto` if the service with `uid` holds it and is not on that
    /// port now (best effort: a claim left behind is taken over later, since its holder no longer
    /// has the port).
    ///
    /// The service is read after the claim and the claim deleted only at the revision read: a
    /// release that comes late (an update moved the service off the port, and another moved it
    /// back and claimed the port again meanwhile) leaves the new claim alone, and one racing such
    /// a claim either sees the service back on the port or makes that update's confirmation fail.
    func release(port: Int32, protocol proto: Protocol, uid: String) async {
        let key = Self.key(port: port, protocol: proto)
        guard let entry = try? await store.get(key), let holder = Record(entry.value), holder.uid == uid else { return }
        let serviceKey = ServiceStrategy.keys.key(namespace: holder.namespace, name: holder.name)
        do throws(StoreError) {
            let stored = try await store.get(serviceKey)
            guard let service = try? ServiceStrategy.decode(stored.value) else { return }
            let onPort = service.spec.port == port && (service.spec.protocol == .udp) == (proto == .udp)
            if service.metadata.uid == uid && onPort { return }
        } catch .notFound {
        } catch {
            return
        }
        _ = try? await store.delete(key, expectedRevision: entry.modRevision)
    }
}

extension StoreError {
    /// Whether this is a failed condition on `key` (absent, or at another revision).
    func names(_ key: String) -> Bool {
        switch self {
        case .notFound(let failed), .conflict(let failed, _): failed == key
        default: false
        }
    }
}
