import CapstanAPI
import CapstanRPC

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
