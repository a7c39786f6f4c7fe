import CapstanRPC
import Synchronization

/// Runs `body` against an `RPCServer` served over a fresh in-process transport, then shuts down.
func withServer<T: Sendable>(
    bufferSize: Int = 16,
    interceptors: [any ServerInterceptor] = [],
    clientInterceptors: [any ClientInterceptor] = [],
    routes: (inout RPCRouter) -> Void,
    _ body: @Sendable (RPCClient, InProcessTransport) async throws -> T
) async throws -> T {
    var router = RPCRouter()
    routes(&router)
    let transport = InProcessTransport(bufferSize: bufferSize)
    let server = RPCServer(router: router, interceptors: interceptors)
    let client = RPCClient(transport: transport.client, interceptors: clientInterceptors)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.serve(on: transport.server) }
        do {
            let result = try await body(client, transport)
            transport.server.beginGracefulShutdown()
            try await group.waitForAll()
            return result
        } catch {
            transport.server.beginGracefulShutdown()
            group.cancelAll()
            throw error
        }
    }
}

/// The `RPCError` `body` throws, or `nil` if it throws none.
func rpcError(_ body: () async throws -> Void) async -> RPCError? {
    do {
        try await body()
        return nil
    } catch let error as RPCError {
        return error
    } catch {
        return RPCError(code: .unknown, message: "not an RPCError: \(error)")
    }
}

/// A thread-safe flag for handlers to report what happened.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// A thread-safe counter.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    @discardableResult
    func increment() -> Int { value.add(1, ordering: .acquiringAndReleasing).newValue }
    var current: Int { value.load(ordering: .acquiring) }
}

/// A thread-safe append-only log.
final class Log: Sendable {
    private let entries = Mutex<[String]>([])
    func append(_ entry: String) { entries.withLock { $0.append(entry) } }
    var all: [String] { entries.withLock { $0 } }
}
