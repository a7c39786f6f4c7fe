import CapstanAPI
import CapstanStore

/// Bindings: assigns an unbound pod to an existing minion in one store transaction, a
/// compare-and-swap on the pod that also requires the minion to be as it was read (so a minion
/// deleted meanwhile fails the binding instead of leaving a pod bound to nothing).
struct BindingRegistry: Sendable {
    let pods: Registry<PodStrategy>
    let minions: Registry<MinionStrategy>

    /// Binds the pod; returns it bound. `alreadyBound` (with the current host) if it has a host,
    /// `notFound` for a missing pod or minion, `invalid` for a malformed binding.
    func bind(_ binding: Binding) async throws(RegistryError) -> Registry<PodStrategy>.Written {
        let namespace = binding.namespace.isEmpty ? defaultNamespace : binding.namespace
        try validate(binding, namespace: namespace)
        while true {
            let stored = try await pods.read(namespace: namespace, name: binding.podName)
            guard stored.object.spec.host.isEmpty else {
                throw .alreadyBound(namespace: namespace, name: binding.podName, host: stored.object.spec.host)
            }
            let minion = try await minionAsRead(binding.host)
            var bound = stored.object
            bound.spec.host = binding.host
            do throws(RegistryError) {
                return try await pods.replace(stored, with: bound, unchanged: [minion])
            } catch .conflict {
                continue  // the pod changed: read it again
            } catch let error where Self.minionChanged(error, minion) {
                continue  // the minion changed (a status report) or is gone: read both again
            }
        }
    }

    /// Creates a prepared pod whose `spec.host` is set (placed by hand), in one store transaction
    /// with a check that its minion is as it was read; `notFound` naming the minion if it is gone.
    func insertPlaced(_ prepared: Pod, nameWasGenerated: Bool) async throws(RegistryError)
        -> Registry<PodStrategy>.Written
    {
        while true {
            let minion = try await minionAsRead(prepared.spec.host)
            do throws(RegistryError) {
                return try await pods.insert(prepared, nameWasGenerated: nameWasGenerated, unchanged: [minion])
            } catch let error where Self.minionChanged(error, minion) {
                continue  // the minion changed (a status report) or is gone: read it again
            }
        }
    }

    /// The minion's key at its current revision, for a write that must not outlive it;
    /// `notFound` naming the minion if it does not exist.
    private func minionAsRead(_ name: String) async throws(RegistryError) -> KeyRevision {
        let minion = try await minions.read(namespace: "", name: name)
        return KeyRevision(key: minions.keys.key(namespace: "", name: name), modRevision: minion.revision)
    }

    /// Whether a write failed because `minion` is no longer at its revision: reading it again
    /// either finds it at a new one or reports it missing.
    private static func minionChanged(_ error: RegistryError, _ minion: KeyRevision) -> Bool {
        switch error {
        case .store(.conflict(let key, _)), .store(.notFound(let key)): key == minion.key
        default: false
        }
    }

    private func validate(_ binding: Binding, namespace: String) throws(RegistryError) {
        var errors = FieldErrors()
        errors.add("namespace", ifPresent: DNS1123.labelViolation(namespace))
        errors.add("pod_name", ifPresent: DNS1123.labelViolation(binding.podName))
        errors.add("host", ifPresent: DNS1123.labelViolation(binding.host))
        guard errors.isEmpty else {
            throw .invalid(kind: "binding", namespace: namespace, name: binding.podName, errors: errors.all)
        }
    }
}
