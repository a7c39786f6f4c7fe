import CapstanInterop
import CapstanRPC
import Synchronization

/// Runs `body` with a client of an `RPCServer` serving `handler` (plus any extra `routes`) over a
/// fresh in-process transport, then shuts the server down and waits for it.
func withInteropServer<T: Sendable>(
    _ handler: some Grpc_Testing_TestService.Handler = InteropTestService(),
    routes: (inout RPCRouter) -> Void = { _ in },
    _ body: @Sendable (RPCClient) async throws -> T
) async throws -> T {
    var router = RPCRouter()
    handler.register(on: &router)
    routes(&router)
    let transport = InProcessTransport()
    let server = RPCServer(router: router)
    let client = RPCClient(transport: transport.client)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.serve(on: transport.server) }
        do {
            let result = try await body(client)
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

/// The `InteropFailure` running `testCase` against `handler` throws, or `nil` if it passes.
/// Any other error is rethrown (the test then fails with it).
func interopFailure(
    of testCase: InteropTestCase,
    against handler: some Grpc_Testing_TestService.Handler,
    routes: (inout RPCRouter) -> Void = { _ in }
) async throws -> InteropFailure? {
    try await withInteropServer(handler, routes: routes) { client in
        do {
            try await testCase.run(using: client)
            return nil
        } catch let failure as InteropFailure {
            return failure
        }
    }
}

/// A thread-safe append-only log.
final class Log<Entry: Sendable>: Sendable {
    private let entries = Mutex<[Entry]>([])
    func append(_ entry: Entry) { entries.withLock { $0.append(entry) } }
    var all: [Entry] { entries.withLock { $0 } }
}

/// Request and option builders.
enum Requests {
    static func unary(size: Int32, type: Grpc_Testing_PayloadType = .compressable) -> Grpc_Testing_SimpleRequest {
        var request = Grpc_Testing_SimpleRequest()
        request.responseType = type
        request.responseSize = size
        return request
    }

    static func streaming(
        sizes: [Int32], intervalsUs: [Int32]? = nil, type: Grpc_Testing_PayloadType = .compressable
    ) -> Grpc_Testing_StreamingOutputCallRequest {
        var request = Grpc_Testing_StreamingOutputCallRequest()
        request.responseType = type
        request.responseParameters = sizes.enumerated().map { index, size in
            var parameters = Grpc_Testing_ResponseParameters()
            parameters.size = size
            parameters.intervalUs = intervalsUs?[index] ?? 0
            return parameters
        }
        return request
    }

    static func echoStatus(code: RPCCode, message: String) -> Grpc_Testing_EchoStatus {
        var status = Grpc_Testing_EchoStatus()
        status.code = Int32(code.rawValue)
        status.message = message
        return status
    }

    /// Options carrying both echo keys.
    static func echoOptions(initial: String = "hello", trailing: [UInt8] = [1, 2, 3]) throws -> CallOptions {
        var options = CallOptions()
        try options.metadata.add(InteropEcho.initialMetadataKey, initial)
        try options.metadata.add(InteropEcho.trailingMetadataKey, binary: trailing)
        return options
    }
}
