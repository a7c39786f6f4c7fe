import CapstanAPI
import CapstanAPIServer
import CapstanAPIServerHost
import CapstanRPC
import CapstanStore
import Foundation
import CapstanTestSupport
import Testing

/// The typed clients of every API service, over one in-process connection.
struct APIClients: Sendable {
    let rpc: RPCClient
    var minions: Minions.Client { Minions.Client(rpc) }
    var pods: Pods.Client { Pods.Client(rpc) }
    var services: Services.Client { Services.Client(rpc) }
    var controllers: ReplicationControllers.Client { ReplicationControllers.Client(rpc) }
    var endpoints: EndpointsRegistry.Client { EndpointsRegistry.Client(rpc) }
    var bindings: Bindings.Client { Bindings.Client(rpc) }
}

/// A fresh temporary directory, removed after `body`.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    try await CapstanTestSupport.withTemporaryDirectory(prefix: "capstan-api", body)
}

/// Options small enough for tests to reach every limit.
func testOptions(_ adjust: (inout APIServerOptions) -> Void = { _ in }) -> APIServerOptions {
    var options = APIServerOptions()
    options.readWaitTimeout = .seconds(30)
    adjust(&options)
    return options
}

/// Runs `body` against an API server on a real `SQLiteStore` in `directory`, served over the
/// in-process transport; shuts everything down (and closes the store) afterwards.
func withAPIServer<T: Sendable>(
    directory: String,
    options: APIServerOptions = testOptions(),
    storeOptions: SQLiteStoreOptions = SQLiteStoreOptions(),
    interceptors: [any ServerInterceptor] = [],
    wrapStore: (SQLiteStore) -> any Store = { $0 },
    _ body: @escaping @Sendable (APIClients, any Store) async throws -> T
) async throws -> T {
    let sqlite = try await SQLiteStore.open(directory: directory, options: storeOptions)
    let store = wrapStore(sqlite)
    let api = APIServer(store: store, options: options)
    var router = RPCRouter()
    api.register(on: &router)
    let transport = InProcessTransport(bufferSize: 16)
    let server = RPCServer(router: router, interceptors: interceptors)
    let clients = APIClients(rpc: RPCClient(transport: transport.client))
    let result: Result<T, any Error> = await withTaskGroup(of: Void.self) { group in
        group.addTask { await api.run() }
        group.addTask { try? await server.serve(on: transport.server) }
        let result: Result<T, any Error>
        do {
            try await api.waitUntilReady()
            result = .success(try await body(clients, store))
        } catch {
            result = .failure(error)
        }
        transport.server.beginGracefulShutdown()
        group.cancelAll()
        await group.waitForAll()
        return result
    }
    await sqlite.close()
    return try result.get()
}

/// `withAPIServer` in a fresh temporary directory.
func withAPIServer<T: Sendable>(
    options: APIServerOptions = testOptions(),
    storeOptions: SQLiteStoreOptions = SQLiteStoreOptions(),
    interceptors: [any ServerInterceptor] = [],
    wrapStore: (SQLiteStore) -> any Store = { $0 },
    _ body: @escaping @Sendable (APIClients, any Store) async throws -> T
) async throws -> T {
    try await withTemporaryDirectory { directory in
        try await withAPIServer(
            directory: directory, options: options, storeOptions: storeOptions, interceptors: interceptors,
            wrapStore: wrapStore, body)
    }
}

/// The `RPCError` `body` throws; records an issue (and returns a placeholder) if it throws none.
func rpcError(_ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async -> RPCError {
    do {
        try await body()
        Issue.record("expected the call to fail", sourceLocation: sourceLocation)
        return RPCError(code: .ok, message: "")
    } catch let error as RPCError {
        return error
    } catch {
        Issue.record("not an RPCError: \(error)", sourceLocation: sourceLocation)
        return RPCError(code: .unknown, message: "\(error)")
    }
}

/// Runs `body` against an API server on `store` that probes it every 100 ms (bound 1 s), with
/// `adjust` applied to its options; an error `body` throws is recorded. Then stops the server,
/// which runs `closeStore`.
func withProbedServer(
    store: any Store, closeStore: @escaping @Sendable () async -> Void,
    options adjust: (inout APIServerOptions) -> Void = { _ in }, _ body: (APIClients) async throws -> Void
) async throws {
    let options = testOptions {
        $0.storeProbeInterval = .milliseconds(100)
        $0.storeProbeTimeout = .seconds(1)
        adjust(&$0)
    }
    let host = try await APIServerHost.start(store: store, closeStore: closeStore, options: options)
    let clients = try HTTP2Clients(address: host.address)
    do {
        try await body(clients.api)
    } catch {
        Issue.record("\(error)")
    }
    await clients.close()
    await host.stop()
}
