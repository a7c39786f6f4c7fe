import CapstanAPI
import CapstanRPC
import CapstanStore

/// Services: the generic registry plus the port claims that keep one service per
/// (port, protocol) (see `ServicePortClaims`).
struct ServiceRegistry: Sendable {
    let registry: Registry<ServiceStrategy>
    let claims: ServicePortClaims

    func create(_ request: Service) async throws(RegistryError) -> Registry<ServiceStrategy>.Written {
        let prepared = try registry.prepareForCreate(request)
        let claim: ServicePortClaims.Claim
        do throws(RegistryError) {
            claim = try await claims.acquire(for: prepared)
        } catch .portInUse(_, _, let holderNamespace, let holderName)
            where holderNamespace == prepared.metadata.namespace && holderName == prepared.metadata.name
        {
            // The name itself is taken (by the service holding the port): say so.
            throw .alreadyExists(kind: ServiceStrategy.kind, namespace: holderNamespace, name: holderName)
        }
        let written: Registry<ServiceStrategy>.Written
        do throws(RegistryError) {
            written = try await registry.insert(prepared, nameWasGenerated: request.metadata.name.isEmpty)
        } catch {
            if ServicePortClaims.releasesClaim(after: error) {
                let spec = prepared.spec
                await claims.release(port: spec.port, protocol: spec.protocol, uid: prepared.metadata.uid)
            }
            throw error
        }
        var confirmed = claim
        confirmed.record.name = written.object.metadata.name
        if try await claims.confirm(confirmed) { return written }
        // Another server took the claim over while this one was slow: undo the create (noted for
        // read-your-writes, so that the client's next read does not show the service).
        let key = registry.keys.key(namespace: written.object.metadata.namespace, name: written.object.metadata.name)
        if let undone = try? await registry.store.delete(key, expectedRevision: written.revision) {
            registry.progress.noteWrite(undone.modRevision)
        }
        throw .portInUse(
            port: prepared.spec.port, protocol: ServicePortClaims.protocolName(prepared.spec.protocol),
            holderNamespace: "?", holderName: "(taken over while this service was being created)")
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
            let claim = portChanged ? try await claims.acquire(for: new) : nil
            let written: Registry<ServiceStrategy>.Written
            do throws(RegistryError) {
                written = try await registry.replace(stored, with: new)
            } catch .conflict where expected == 0 {
                if portChanged { await claims.release(port: new.spec.port, protocol: new.spec.protocol, uid: new.metadata.uid) }
                continue
            } catch {
                if portChanged, ServicePortClaims.releasesClaim(after: error) {
                    await claims.release(port: new.spec.port, protocol: new.spec.protocol, uid: new.metadata.uid)
                }
                throw error
            }
            guard let claim else { return written }
            guard try await claims.confirm(claim) else {
                _ = try? await registry.replace(.init(object: written.object, revision: written.revision), with: old)
                throw .portInUse(
                    port: new.spec.port, protocol: ServicePortClaims.protocolName(new.spec.protocol),
                    holderNamespace: "?", holderName: "(taken over while this service was being updated)")
            }
            await claims.release(port: old.spec.port, protocol: old.spec.protocol, uid: old.metadata.uid)
            return written
        }
    }

    func delete(_ request: DeleteRequest) async throws(RegistryError) -> Registry<ServiceStrategy>.Written {
        let written = try await registry.delete(request)
        let service = written.object
        await claims.release(port: service.spec.port, protocol: service.spec.protocol, uid: service.metadata.uid)
        return written
    }
}
