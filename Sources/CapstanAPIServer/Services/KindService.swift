import CapstanAPI
import CapstanRPC

/// Serves the generic methods of one kind (Create, Get, List, Update, Delete, Watch) from its
/// registry; kinds with more (or different) behaviour register their own routes over these.
struct KindService<S: KindStrategy>: Sendable {
    let registry: Registry<S>

    func register(on router: inout RPCRouter) {
        let registry = registry
        let methods = S.methods
        router.unaryEncoded(methods.create) { request, _ in try await registry.create(request).encoded }
        router.unaryEncoded(
            methods.get, immediately: { request, _ in try registry.getImmediately(request) },
            { request, _ in try await registry.get(request) })
        router.unaryEncoded(methods.list) { request, _ in try await registry.list(request) }
        if let update = methods.update {
            router.unaryEncoded(update) { request, _ in try await registry.update(request).encoded }
        }
        router.unaryEncoded(methods.delete) { request, _ in try await registry.delete(request).encoded }
        router.serverStreaming(methods.watch) { request, response, _ in
            try await registry.watch(request, response: response)
        }
    }
}
