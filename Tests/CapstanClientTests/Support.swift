import CapstanAPI
import CapstanAPIServer
import CapstanAPIServerHost
import CapstanClient
import CapstanHTTP2
import CapstanRPC
import CapstanTestSupport
import Foundation
import Glibc
import Synchronization
import Testing

/// Polls `condition` every 20 ms until it holds, failing with `TestTimeout` after `seconds`.
func eventually(_ what: String, seconds: Int = 60, _ condition: @escaping @Sendable () async throws -> Bool) async throws {
    try await bounded(what, seconds: seconds) {
        while try await !condition() { try await Task.sleep(for: .milliseconds(20)) }
    }
}

/// A fresh temporary directory, removed after `body`.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    try await CapstanTestSupport.withTemporaryDirectory(prefix: "capstan-client", body)
}

/// API server options for tests: reads wait long on a loaded machine; quick bookmarks.
func testOptions(_ adjust: (inout APIServerOptions) -> Void = { _ in }) -> APIServerOptions {
    var options = APIServerOptions()
    options.readWaitTimeout = .seconds(30)
    options.bookmarkInterval = .milliseconds(100)
    adjust(&options)
    return options
}

/// Starts an API server on the SQLite store in `directory` (port 0: a free one).
func startServer(
    _ directory: String, port: Int = 0, options: APIServerOptions = testOptions(),
    interceptors: [any ServerInterceptor] = []
) async throws -> APIServerHost {
    try await bounded("the API server to start") {
        try await APIServerHost.start(
            store: .sqlite(directory), host: "127.0.0.1", port: port, options: options, interceptors: interceptors, loops: 1)
    }
}

/// Stops `server`, bounded.
func stopServer(_ server: APIServerHost) async throws {
    try await bounded("the API server to stop") { await server.stop() }
}

/// Client options for tests: generous deadlines for a loaded machine.
func clientOptions(_ adjust: (inout ClientOptions) -> Void = { _ in }) -> ClientOptions {
    var options = ClientOptions(timeout: .seconds(20))
    adjust(&options)
    return options
}

/// Runs `body` with an API server in a fresh directory and a client of it; cleans up after.
func withServerAndClient<T: Sendable>(
    options: APIServerOptions = testOptions(),
    interceptors: [any ServerInterceptor] = [],
    client clientOptions: ClientOptions = clientOptions(),
    _ body: @escaping @Sendable (APIServerHost, CapstanClient) async throws -> T
) async throws -> T {
    try await withTemporaryDirectory { directory in
        let server = try await startServer(directory, options: options, interceptors: interceptors)
        let client = try CapstanClient(servers: [server.address], options: clientOptions)
        let result: Result<T, any Error>
        do {
            result = .success(try await body(server, client))
        } catch {
            result = .failure(error)
        }
        try await bounded("the client to close") { await client.close() }
        try await stopServer(server)
        return try result.get()
    }
}

/// The `RPCError` `body` throws; records an issue if it throws none or another error.
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

/// Counts the calls the server receives, by method path, and can fail some of them with
/// UNAVAILABLE: `failBefore[path]` calls before the handler runs, or every call of a path in
/// `failAfter` after the handler ran (as if the response were lost).
final class CallRecorder: ServerInterceptor {
    private struct State {
        var counts: [String: Int] = [:]
        var failBefore: [String: Int] = [:]
        var failAfter: Set<String> = []
        var delay: [String: Duration] = [:]
    }

    private let state = Mutex(State())

    func count(_ path: String) -> Int { state.withLock { $0.counts[path, default: 0] } }

    func failBefore(_ path: String, times: Int) { state.withLock { $0.failBefore[path] = times } }

    func failAfter(_ path: String) { state.withLock { _ = $0.failAfter.insert(path) } }

    func delay(_ path: String, by duration: Duration) { state.withLock { $0.delay[path] = duration } }

    func intercept(_ context: ServerContext, next: @Sendable (ServerContext) async throws -> Void) async throws {
        let path = context.method.path
        let (failNow, failLater, delay): (Bool, Bool, Duration?) = state.withLock { state in
            state.counts[path, default: 0] += 1
            let remaining = state.failBefore[path, default: 0]
            if remaining > 0 { state.failBefore[path] = remaining - 1 }
            return (remaining > 0, state.failAfter.contains(path), state.delay[path])
        }
        if failNow { throw RPCError(code: .unavailable, message: "injected failure before \(path)") }
        if let delay { try await Task.sleep(for: delay) }
        try await next(context)
        if failLater { throw RPCError(code: .unavailable, message: "injected failure after \(path)") }
    }
}

/// Small valid objects.
enum Make {
    static func minion(_ name: String) -> Minion {
        var minion = Minion()
        minion.metadata.name = name
        minion.spec.address = "10.0.0.1"
        minion.spec.kubeletPort = 10250
        return minion
    }

    static func pod(_ name: String, namespace: String = "", labels: [String: String] = [:], host: String = "") -> Pod {
        var pod = Pod()
        pod.metadata.name = name
        pod.metadata.namespace = namespace
        pod.metadata.labels = labels
        pod.spec.host = host
        var container = Container()
        container.name = "app"
        container.image = "busybox"
        pod.spec.containers = [container]
        return pod
    }

    static func service(_ name: String, port: Int32) -> Service {
        var service = Service()
        service.metadata.name = name
        service.spec.port = port
        service.spec.selector = ["app": name]
        return service
    }

    static func controller(_ name: String, replicas: Int32 = 2) -> ReplicationController {
        var controller = ReplicationController()
        controller.metadata.name = name
        controller.spec.replicas = replicas
        controller.spec.selector = ["app": name]
        controller.spec.template.metadata.labels = ["app": name]
        controller.spec.template.spec.containers = pod("x").spec.containers
        return controller
    }

    static func endpoints(_ name: String, _ addresses: [String]) -> Endpoints {
        var endpoints = Endpoints()
        endpoints.metadata.name = name
        endpoints.endpoints = addresses
        return endpoints
    }
}

