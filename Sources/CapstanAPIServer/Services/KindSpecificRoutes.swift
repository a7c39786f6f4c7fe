import CapstanAPI
import CapstanRPC

/// Minions: the generic methods, ReportStatus, and a fixed UNIMPLEMENTED answer for Update.
struct MinionService: Sendable {
    let registry: Registry<MinionStrategy>

    func register(on router: inout RPCRouter) {
        KindService(registry: registry).register(on: &router)
        router.answer(
            path: "/\(Minions.serviceName)/Update",
            with: RegistryError.unsupported(reason: MinionStrategy.updateUnsupported).rpcError)
        let registry = registry
        router.unaryEncoded(Minions.Method.reportStatus) { report, _ in
            let name = try registry.requireName(report.name, field: "name", namespace: "")
            return try await registry.update(namespace: "", name: name, expected: 0, uid: "") { (old) throws(RegistryError) in
                var new = old
                new.status = report.status
                try registry.validate(new)
                return new
            }.encoded
        }
    }
}

/// Pods: Create checks that a pod placed by hand names an existing minion; UpdateStatus changes
/// only the status.
struct PodService: Sendable {
    let registry: Registry<PodStrategy>
    let bindings: BindingRegistry

    func register(on router: inout RPCRouter) {
        KindService(registry: registry).register(on: &router)
        let (registry, bindings) = (registry, bindings)
        router.unaryEncoded(Pods.Method.create) { request, _ in
            let prepared = try registry.prepareForCreate(request)
            if !prepared.spec.host.isEmpty { try await bindings.requireMinion(prepared.spec.host) }
            return try await registry.insert(prepared, nameWasGenerated: request.metadata.name.isEmpty).encoded
        }
        router.unaryEncoded(Pods.Method.updateStatus) { request, _ in
            let namespace = PodStrategy.requestNamespace(request.metadata.namespace)
            let name = try registry.requireName(request.metadata.name, field: "metadata.name", namespace: namespace)
            return try await registry.update(
                namespace: namespace, name: name, expected: Int64(request.metadata.resourceVersion), uid: request.metadata.uid
            ) { (old) throws(RegistryError) in
                var new = PodStrategy.prepareForStatusUpdate(request, old: old)
                new.applyDefaults()
                try registry.validate(new)
                return new
            }.encoded
        }
    }
}

/// Services: Create, Update and Delete go through the port claims.
struct ServiceService: Sendable {
    let services: ServiceRegistry

    func register(on router: inout RPCRouter) {
        KindService(registry: services.registry).register(on: &router)
        let services = services
        router.unaryEncoded(Services.Method.create) { request, _ in try await services.create(request).encoded }
        router.unaryEncoded(Services.Method.update) { request, _ in try await services.update(request).encoded }
        router.unaryEncoded(Services.Method.delete) { request, _ in try await services.delete(request).encoded }
    }
}

/// Bindings: Create only; every other method answers UNIMPLEMENTED with the reason.
struct BindingService: Sendable {
    static let writeOnly = "bindings are write-only: Bindings/Create binds a pod; read the pod to see its host"

    let bindings: BindingRegistry

    func register(on router: inout RPCRouter) {
        let bindings = bindings
        router.unaryEncoded(Bindings.Method.create) { binding, _ in try await bindings.bind(binding).encoded }
        for method in ["Get", "List", "Update", "Delete", "Watch"] {
            router.answer(
                path: "/\(Bindings.serviceName)/\(method)", with: RegistryError.unsupported(reason: Self.writeOnly).rpcError)
        }
    }
}
