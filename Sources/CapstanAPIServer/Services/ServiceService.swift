import CapstanAPI
import CapstanRPC

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
