@testable import CapstanHTTP2
import CapstanRPC
import Synchronization
import Testing

/// A server and a client over real loopback HTTP/2, torn down after `body`.
struct HTTP2Harness: Sendable {
    let group: EventLoopGroup
    let server: HTTP2ServerTransport
    let clientTransport: HTTP2ClientTransport
    let client: RPCClient

    var target: String { "127.0.0.1:\(server.localPort)" }

    /// A second client transport to the same server (close it before the harness ends).
    func makeClientTransport(configuration: HTTP2ClientTransport.Configuration = .defaults) throws -> HTTP2ClientTransport {
        try HTTP2ClientTransport(targets: [target], configuration: configuration, group: group)
    }
}

/// Runs `body` against an `RPCServer` on an HTTP/2 server transport bound to a random loopback
/// port, with an `RPCClient` on an HTTP/2 client transport; then shuts everything down (client,
/// server, loops), also when `body` throws. With `serving`, the server accepts connections only
/// once that gate opens (until then the kernel queues them: clients connect, but hear nothing).
func withHTTP2Server<T: Sendable>(
    host: String = "127.0.0.1",
    threads: Int = 2,
    serving: Gate? = nil,
    server serverConfiguration: HTTP2ServerTransport.Configuration = .defaults,
    client clientConfiguration: HTTP2ClientTransport.Configuration = .defaults,
    interceptors: [any ServerInterceptor] = [],
    observers: [any CallObserver] = [],
    routes: (inout RPCRouter) -> Void = Echo.register,
    _ body: @Sendable (HTTP2Harness) async throws -> T
) async throws -> T {
    var router = RPCRouter()
    routes(&router)
    let group = try EventLoopGroup(threads: threads)
    let serverTransport: HTTP2ServerTransport
    let clientTransport: HTTP2ClientTransport
    do {
        serverTransport = try HTTP2ServerTransport(host: host, port: 0, configuration: serverConfiguration, group: group)
        let target = host.contains(":") ? "[\(host)]:\(serverTransport.localPort)" : "\(host):\(serverTransport.localPort)"
        clientTransport = try HTTP2ClientTransport(targets: [target], configuration: clientConfiguration, group: group)
    } catch {
        await group.shutdown()
        throw error
    }
    let harness = HTTP2Harness(
        group: group, server: serverTransport, clientTransport: clientTransport,
        client: RPCClient(transport: clientTransport))
    let server = RPCServer(router: router, interceptors: interceptors, observers: observers)
    let result: Result<T, any Error> = await withTaskGroup(of: Void.self) { tasks in
        tasks.addTask {
            if let serving { await serving.wait() }
            try? await server.serve(on: serverTransport)
        }
        let result: Result<T, any Error>
        do {
            result = .success(try await body(harness))
        } catch {
            result = .failure(error)
        }
        serving?.open()
        await clientTransport.close()
        serverTransport.beginGracefulShutdown()
        await tasks.waitForAll()
        return result
    }
    await group.shutdown()
    return try result.get()
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

/// A one-shot signal tasks can wait for. Waits are bounded: a gate that does not open within the
/// timeout records a test issue and stops waiting, so a broken expectation fails instead of hanging.
final class Gate: Sendable {
    private struct State {
        var open = false
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    var isOpen: Bool { state.withLock { $0.open } }

    /// Waits until the gate opens, at most `timeout`.
    func wait(timeout: Duration = .seconds(30), sourceLocation: SourceLocation = #_sourceLocation) async {
        let opened = await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.waitUntilOpenOrCancelled(); return self.isOpen }
            group.addTask { try? await Task.sleep(for: timeout); return false }
            let first = await group.next() ?? false
            group.cancelAll()
            return first || self.isOpen
        }
        if !opened { Issue.record("gate did not open within \(timeout)", sourceLocation: sourceLocation) }
    }

    private func waitUntilOpenOrCancelled() async {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.open || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }
}
