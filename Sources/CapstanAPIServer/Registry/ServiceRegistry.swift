import CapstanAPI
import CapstanRPC
import CapstanStore

/// Services: the generic registry plus the port claims that keep one service per
/// (port, protocol) (see `ServicePortClaims`).
struct ServiceRegistry: Sendable {
    let registry: Registry<ServiceStrategy>
    let claims: ServicePortClaims

    /// Claims the port, then writes the service only while the claim is still this one's (one
    /// store transaction), then marks the claim confirmed. A claim taken over before the write
    /// fails the write itself; one taken over or released between the write and the
    /// confirmation undoes the write (see `undo`).
    func create(_ request: Service) async throws(RegistryError) -> Registry<ServiceStrategy>.Written {
        var prepared = try registry.prepareForCreate(request)
        let nameWasGenerated = request.metadata.name.isEmpty
        var claim: ServicePortClaims.Claim
        do throws(RegistryError) {
            claim = try await claims.acquire(for: prepared)
        } catch .portInUse(_, _, let holderNamespace, let holderName)
            where holderNamespace == prepared.metadata.namespace && holderName == prepared.metadata.name
        {
            // The name itself is taken (by the service holding the port): say so.
            throw .alreadyExists(kind: ServiceStrategy.kind, namespace: holderNamespace, name: holderName)
        }
        for attempt in 1...8 {
            let written: Registry<ServiceStrategy>.Written
            do throws(RegistryError) {
                written = try await registry.insert(prepared, nameWasGenerated: false, unchanged: [claim.keyRevision])
            } catch .alreadyExists where nameWasGenerated && attempt < 8 {
                // A generated name collided: take another, and say so in the claim (a takeover
                // looks the holder up by name).
                prepared.metadata.name = ServerFields.name(prefix: prepared.metadata.generateName)
                claim = try await renamed(claim, to: prepared.metadata.name, service: prepared)
                continue
            } catch {
                throw await failed(error, claim: claim, service: prepared, verb: "created")
            }
            if try await claims.confirm(claim) { return written }
            // Taken over (by a server that read the service as absent just before this write)
            // or released (by a late release of an earlier move) meanwhile: undo the create,
            // unless the service is gone already.
            let key = registry.keys.key(namespace: written.object.metadata.namespace, name: written.object.metadata.name)
            do throws(StoreError) {
                let undone = try await registry.store.delete(key, expectedRevision: written.revision)
                registry.progress.noteWrite(undone.modRevision)
            } catch .notFound {
                return written
            } catch {
            }
            throw takenOver(prepared, verb: "created")
        }
        throw .alreadyExists(kind: ServiceStrategy.kind, namespace: prepared.metadata.namespace, name: prepared.metadata.name)
    }

    func update(_ request: Service) async throws(RegistryError) -> Registry<ServiceStrategy>.Written {
        let namespace = ServiceStrategy.requestNamespace(request.metadata.namespace)
        let name = try registry.requireName(request.metadata.name, field: "metadata.name", namespace: namespace)
        let expected = try registry.expectedRevision(
            request.metadata.resourceVersion, field: "metadata.resource_version", namespace: namespace, name: name)
        while true {
            let stored = try await registry.read(namespace: namespace, name: name)
            let old = stored.object
            if expected != 0 && expected != stored.revision {
                throw .conflict(kind: ServiceStrategy.kind, namespace: namespace, name: name, expected: expected, current: stored.revision)
            }
            if !request.metadata.uid.isEmpty && request.metadata.uid != old.metadata.uid {
                throw .uidMismatch(
                    kind: ServiceStrategy.kind, namespace: namespace, name: name, expected: request.metadata.uid, current: old.metadata.uid)
            }
            var new = try registry.prepareForUpdate(request, old: old) { (_, _) throws(RegistryError) in }
            new.metadata.resourceVersion = old.metadata.resourceVersion
            if new == old { return try registry.unchanged(stored) }
            let portChanged = new.spec.port != old.spec.port || new.spec.protocol != old.spec.protocol
            var claim: ServicePortClaims.Claim?
            if portChanged {
                do throws(RegistryError) {
                    claim = try await claims.acquire(for: new)
                } catch .portInUse(_, _, let holderNamespace, let holderName) where holderNamespace == namespace && holderName == name {
                    // The port's holder is this service: another update is moving it there.
                    // Once that one wrote, look again (a conditional update then fails as a
                    // conflict, an unconditional one starts from what it wrote), rather than
                    // naming the service as the port's other user.
                    if try await settles(new, from: stored.revision) { continue }
                    throw .serviceBeingMoved(
                        namespace: namespace, name: name,
                        port: "\(new.spec.port)/\(ServicePortClaims.protocolName(new.spec.protocol))")
                }
            }
            let written: Registry<ServiceStrategy>.Written
            do throws(RegistryError) {
                written = try await registry.replace(stored, with: new, unchanged: claim.map { [$0.keyRevision] } ?? [])
            } catch .conflict where expected == 0 {
                if portChanged { await claims.release(port: new.spec.port, protocol: new.spec.protocol, uid: new.metadata.uid) }
                continue
            } catch {
                guard let claim else { throw error }
                throw await failed(error, claim: claim, service: new, verb: "updated")
            }
            guard let claim else { return written }
            if try await claims.confirm(claim) {
                await claims.release(port: old.spec.port, protocol: old.spec.protocol, uid: old.metadata.uid)
                return written
            }
            return try await newPortLost(written, old: old, new: new)
        }
    }

    /// Whether the other update moving `service` to its port settles within about a second:
    /// the stored service changes from `revision` (or goes), or the port's claim is no longer
    /// that update's (it failed and gave the claim up, or another service took it over). Looked
    /// at after 5 ms, then at doubling pauses (8 looks over 1.3 s).
    private func settles(_ service: Service, from revision: Int64) async throws(RegistryError) -> Bool {
        let (namespace, name) = (service.metadata.namespace, service.metadata.name)
        var pause = Duration.milliseconds(5)
        for _ in 0..<8 {
            guard (try? await Task.sleep(for: pause)) != nil else { return false }
            pause *= 2
            do throws(RegistryError) {
                if try await registry.read(namespace: namespace, name: name).revision != revision { return true }
            } catch .notFound {
                return true
            }
            let moving = try await claims.isPending(
                port: service.spec.port, protocol: service.spec.protocol, uid: service.metadata.uid)
            if !moving { return true }
        }
        return false
    }

    /// An update wrote the service on its new port, but that port's claim changed before the
    /// update confirmed it: taken over by a server that read the service just before the write,
    /// or removed by a late release of an earlier move. The service must not stay on a port it
    /// does not hold, so, in this order:
    /// - the new port is claimed again if it can be (its claim went, or its new holder is not on
    ///   it): the update stands;
    /// - else the service goes back to what it was, on its old port, if that claim can be had (it
    ///   still names this service, or went): the update fails as taken over. The move back is
    ///   conditional on that claim, since another server may have taken the old port over while
    ///   the service was off it. If others changed the service meanwhile (say, its labels), their
    ///   change stays and only the port (with its container port) goes back;
    /// - else both ports went to other services meanwhile: the service can keep neither and is
    ///   deleted (`serviceDisplaced`).
    /// A write that finds the service changed by someone else looks again: while it is still on
    /// the lost port, the steps start over from what is stored; once it is gone or elsewhere, it
    /// is no longer this update's to move, and the update stands. Not covered: a store failure in
    /// the middle leaves the service where the last write put it.
    private func newPortLost(
        _ written: Registry<ServiceStrategy>.Written, old: Service, new: Service
    ) async throws(RegistryError) -> Registry<ServiceStrategy>.Written {
        let key = registry.keys.key(namespace: new.metadata.namespace, name: new.metadata.name)
        var current = Registry<ServiceStrategy>.Stored(object: written.object, revision: written.revision)
        for _ in 0..<8 {
            if let again = try await claimIfFree(current.object) {
                if try await claims.confirm(again) {
                    // The claim names the service again (a move by someone else since follows
                    // its own claim): the old port goes.
                    await claims.release(port: old.spec.port, protocol: old.spec.protocol, uid: old.metadata.uid)
                    return written
                }
                guard let stored = try await onLostPort(key, like: current.object) else { return written }
                current = stored
                continue
            }
            var putBack: Registry<ServiceStrategy>.Written?
            if let back = try await claimIfFree(old) {
                var target = old
                if current.revision != written.revision {
                    // Others changed the service since this update wrote it (their change came
                    // on top of this update's): theirs stay, and only the port goes back.
                    target = current.object
                    target.spec.port = old.spec.port
                    target.spec.protocol = old.spec.protocol
                    target.spec.containerPort = old.spec.containerPort
                }
                do throws(RegistryError) {
                    putBack = try await registry.replace(current, with: target, unchanged: [back.keyRevision])
                } catch .notFound {
                    await claims.release(port: old.spec.port, protocol: old.spec.protocol, uid: old.metadata.uid)
                    return written
                } catch .conflict {
                    // Changed meanwhile: give the old port up again and look at what is stored.
                    await claims.release(port: old.spec.port, protocol: old.spec.protocol, uid: old.metadata.uid)
                    guard let stored = try await onLostPort(key, like: current.object) else { return written }
                    current = stored
                    continue
                } catch .store(let error) where error.names(back.key) {
                    // The old port was taken over as the service went back: it can keep neither.
                }
                if putBack != nil, try await claims.confirm(back) { throw takenOver(new, verb: "updated") }
            }
            // Neither port (or the old one lost again right after the move back, as rare as it
            // is): the service goes.
            let revision = putBack?.revision ?? current.revision
            do throws(StoreError) {
                let deleted = try await registry.store.delete(key, expectedRevision: revision)
                registry.progress.noteWrite(deleted.modRevision)
            } catch .notFound {
                return written
            } catch .conflict {
                if putBack != nil { throw takenOver(new, verb: "updated") }
                guard let stored = try await onLostPort(key, like: current.object) else { return written }
                current = stored
                continue
            } catch {
                throw .store(error)
            }
            throw .serviceDisplaced(
                namespace: new.metadata.namespace, name: new.metadata.name,
                port: "\(new.spec.port)/\(ServicePortClaims.protocolName(new.spec.protocol))",
                oldPort: "\(old.spec.port)/\(ServicePortClaims.protocolName(old.spec.protocol))")
        }
        // Changed under this repair again and again: say so (the service is where the last
        // change put it).
        throw takenOver(new, verb: "updated")
    }

    /// The service at `key` as stored, if it is still `service` (same uid) on `service`'s port;
    /// nil when it is gone or was moved.
    private func onLostPort(_ key: String, like service: Service) async throws(RegistryError) -> Registry<ServiceStrategy>.Stored? {
        let entry: KeyValue
        do throws(StoreError) {
            entry = try await registry.store.get(key)
        } catch .notFound {
            return nil
        } catch {
            throw .store(error)
        }
        var stored = try ServiceStrategy.decode(entry.value)
        guard stored.metadata.uid == service.metadata.uid, stored.spec.port == service.spec.port,
            (stored.spec.protocol == .udp) == (service.spec.protocol == .udp)
        else { return nil }
        stored.metadata.resourceVersion = UInt64(entry.modRevision)
        return .init(object: stored, revision: entry.modRevision)
    }

    /// `service`'s port claimed for it, or nil when another service holds it.
    private func claimIfFree(_ service: Service) async throws(RegistryError) -> ServicePortClaims.Claim? {
        do throws(RegistryError) {
            return try await claims.acquire(for: service)
        } catch .portInUse {
            return nil
        }
    }

    /// The error to answer for a service write under `claim` that failed with `error`: the port
    /// taken if the claim changed (the write did not happen), else `error`, with the claim given
    /// up when the write certainly did not happen.
    private func failed(
        _ error: RegistryError, claim: ServicePortClaims.Claim, service: Service, verb: String
    ) async -> RegistryError {
        if case .store(let storeError) = error, storeError.names(claim.key) { return takenOver(service, verb: verb) }
        if ServicePortClaims.releasesClaim(after: error) {
            await claims.release(port: service.spec.port, protocol: service.spec.protocol, uid: service.metadata.uid)
        }
        return error
    }

    /// The answer for a service whose claim was taken over while it was being `verb`.
    private func takenOver(_ service: Service, verb: String) -> RegistryError {
        .portInUse(
            port: service.spec.port, protocol: ServicePortClaims.protocolName(service.spec.protocol),
            holderNamespace: "?", holderName: "(taken over while this service was being \(verb))")
    }

    /// `claim` naming `name` (a generated name that collided was replaced).
    private func renamed(
        _ claim: ServicePortClaims.Claim, to name: String, service: Service
    ) async throws(RegistryError) -> ServicePortClaims.Claim {
        guard let claim = try await claims.rename(claim, to: name) else { throw takenOver(service, verb: "created") }
        return claim
    }

    func delete(_ request: DeleteRequest) async throws(RegistryError) -> Registry<ServiceStrategy>.Written {
        let written = try await registry.delete(request)
        let service = written.object
        await claims.release(port: service.spec.port, protocol: service.spec.protocol, uid: service.metadata.uid)
        return written
    }
}
