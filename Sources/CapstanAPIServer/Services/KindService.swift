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
            methods.get,
            immediately: { request, context in try registry.getImmediately(request, after: readAfter(context)) },
            { request, context in try await registry.get(request, after: readAfter(context)) })
        router.unaryEncoded(methods.list) { request, context in
            try await registry.list(request, after: readAfter(context))
        }
        if let update = methods.update {
            router.unaryEncoded(update) { request, _ in try await registry.update(request).encoded }
        }
        router.unaryEncoded(methods.delete) { request, _ in try await registry.delete(request).encoded }
        router.serverStreaming(methods.watch) { request, response, context in
            try await registry.watch(request, response: response, after: readAfter(context))
        }
    }
}

/// The revision a read must reflect at least (`ReadAfter`): 0 without the metadata,
/// `INVALID_ARGUMENT` for a value that is not a revision.
func readAfter(_ context: ServerContext) throws(RPCError) -> Int64 {
    guard let value = context.metadata.first(ReadAfter.key) else { return 0 }
    guard let revision = ReadAfter.revision(value) else {
        throw RPCError(
            code: .invalidArgument,
            message: "metadata \(ReadAfter.key) must be a store revision (a decimal number), not \"\(value)\"")
    }
    return revision
}
