import CapstanAPI

/// Bindings: assigns an unbound pod to an existing minion with a compare-and-swap on the pod.
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
            try await requireMinion(binding.host)
            var bound = stored.object
            bound.spec.host = binding.host
            do throws(RegistryError) {
                return try await pods.replace(stored, with: bound)
            } catch .conflict {
                continue
            }
        }
    }

    /// `notFound` naming the minion unless it exists.
    func requireMinion(_ name: String) async throws(RegistryError) {
        _ = try await minions.read(namespace: "", name: name)
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
