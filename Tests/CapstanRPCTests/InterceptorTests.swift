import CapstanRPC
import Testing

enum RequestIdentity {
    @TaskLocal static var name: String?
}

/// Logs entry and exit around the call.
struct Tracing: ServerInterceptor {
    let label: String
    let log: Log

    func intercept(_ context: ServerContext, next: @Sendable (ServerContext) async throws -> Void) async throws {
        log.append("\(label)> \(context.method.path)")
        do {
            try await next(context)
            log.append("<\(label) OK")
        } catch {
            log.append("<\(label) \(RPCError(converting: error).code)")
            throw error
        }
    }
}

/// Rejects calls without the right token; binds the caller's identity for the handler.
struct Auth: ServerInterceptor {
    func intercept(_ context: ServerContext, next: @Sendable (ServerContext) async throws -> Void) async throws {
        guard context.metadata.first("authorization") == "Bearer good" else {
            throw RPCError(code: .unauthenticated, message: "missing or invalid token")
        }
        try await RequestIdentity.$name.withValue("alice") { try await next(context) }
    }
}

/// Adds the token to every call.
struct AddToken: ClientInterceptor {
    let log: Log

    func intercept(
        _ head: ClientRequestHead,
        next: @Sendable (ClientRequestHead) async throws -> ClientTransportStream
    ) async throws -> ClientTransportStream {
        log.append("token for \(head.method.method)")
        var head = head
        try head.metadata.add("authorization", "Bearer good")
        return try await next(head)
    }
}

/// Refuses every call before a stream opens.
struct Offline: ClientInterceptor {
    func intercept(
        _ head: ClientRequestHead,
        next: @Sendable (ClientRequestHead) async throws -> ClientTransportStream
    ) async throws -> ClientTransportStream {
        throw RPCError(code: .unavailable, message: "offline")
    }
}

@Suite("Interceptors", .timeLimit(.minutes(1)))
struct InterceptorTests {
    static let whoami = MethodDescriptor<Text, Text>(service: "capstan.test.Auth", method: "WhoAmI", kind: .unary)

    static func routes(handled: Counter) -> (inout RPCRouter) -> Void {
        { router in
            router.unary(whoami) { _, _ in
                handled.increment()
                return Text(RequestIdentity.name ?? "nobody")
            }
        }
    }

    @Test("server interceptors run outermost first and see the handler's outcome")
    func order() async throws {
        let log = Log()
        let handled = Counter()
        let interceptors: [any ServerInterceptor] = [Tracing(label: "A", log: log), Tracing(label: "B", log: log)]
        try await withServer(interceptors: interceptors, routes: Self.routes(handled: handled)) { client, _ in
            _ = try await client.unary(Self.whoami, "", options: .default)
        }
        #expect(log.all == ["A> /capstan.test.Auth/WhoAmI", "B> /capstan.test.Auth/WhoAmI", "<B OK", "<A OK"])
    }

    @Test("a rejecting interceptor stops the call before the handler")
    func reject() async throws {
        let log = Log()
        let handled = Counter()
        let interceptors: [any ServerInterceptor] = [Tracing(label: "A", log: log), Auth()]
        try await withServer(interceptors: interceptors, routes: Self.routes(handled: handled)) { client, _ in
            let error = await rpcError { _ = try await client.unary(Self.whoami, "", options: .default) }
            #expect(error == RPCError(code: .unauthenticated, message: "missing or invalid token"))
            #expect(handled.current == 0)

            var options = CallOptions()
            try options.metadata.add("authorization", "Bearer good")
            #expect(try await client.unary(Self.whoami, "", options: options).value == "alice")
            #expect(handled.current == 1)
        }
        #expect(log.all.last == "<A OK")
        #expect(log.all.contains("<A UNAUTHENTICATED"))
    }

    @Test("client interceptors change metadata or refuse calls")
    func client() async throws {
        let log = Log()
        let handled = Counter()
        try await withServer(
            interceptors: [Auth()],
            clientInterceptors: [AddToken(log: log)],
            routes: Self.routes(handled: handled)
        ) { client, transport in
            let identity = try await client.unary(Self.whoami, "", options: .default)
            #expect(identity.value == "alice")
            #expect(log.all == ["token for WhoAmI"])

            let offline = RPCClient(transport: transport.client, interceptors: [Offline(), AddToken(log: log)])
            let error = await rpcError { _ = try await offline.unary(Self.whoami, "", options: .default) }
            #expect(error?.code == .unavailable)
            #expect(log.all.count == 1)
            #expect(handled.current == 1)
        }
    }
}
