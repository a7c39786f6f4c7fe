import CapstanAPI
import CapstanRPC

/// Pods: Create checks that a pod placed by hand names an existing minion; UpdateStatus changes
/// only the status.
struct PodService: Sendable {
    let registry: Registry<PodStrategy>
    let bindings: BindingRegistry

    func register(on router: inout RPCRouter) {
        KindService(registry: registry).register(on: &router)
        let (registry, bindings) = (registry, bindings)
        router.unaryEncoded(Pods.Method.create) { request, _ in
            let nameWasGenerated = request.metadata.name.isEmpty
            let prepared = try registry.prepareForCreate(request)
            guard !prepared.spec.host.isEmpty else {
                return try await registry.insert(consume prepared, nameWasGenerated: nameWasGenerated).encoded
            }
            return try await bindings.insertPlaced(prepared, nameWasGenerated: nameWasGenerated).encoded
        }
        router.unaryEncoded(Pods.Method.updateStatus) { request, _ in
            let namespace = PodStrategy.requestNamespace(request.metadata.namespace)
            let name = try registry.requireName(request.metadata.name, field: "metadata.name", namespace: namespace)
            let expected = try registry.expectedRevision(
                request.metadata.resourceVersion, field: "metadata.resource_version", namespace: namespace, name: name)
            return try await registry.update(namespace: namespace, name: name, expected: expected, uid: request.metadata.uid) {
                (old) throws(RegistryError) in
                var new = PodStrategy.prepareForStatusUpdate(request, old: old)
                new.applyDefaults()
                try registry.validate(new)
                let addresses = Validation.podStatusAddresses(new.status, path: "status")
                guard addresses.isEmpty else {
                    throw .invalid(kind: PodStrategy.kind, namespace: namespace, name: name, errors: addresses.all)
                }
                return new
            }.encoded
        }
    }
}
