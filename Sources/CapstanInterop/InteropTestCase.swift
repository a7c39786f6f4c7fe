public import CapstanRPC

/// The interop test cases a client runs against any gRPC interop server, each exactly as
/// grpc/grpc `doc/interop-test-descriptions.md` describes it. Raw values are the names the
/// interop runner passes as `--test_case`.
public enum InteropTestCase: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    case emptyUnary = "empty_unary"
    case largeUnary = "large_unary"
    case clientStreaming = "client_streaming"
    case serverStreaming = "server_streaming"
    case pingPong = "ping_pong"
    case emptyStream = "empty_stream"
    case cancelAfterBegin = "cancel_after_begin"
    case cancelAfterFirstResponse = "cancel_after_first_response"
    case timeoutOnSleepingServer = "timeout_on_sleeping_server"
    case statusCodeAndMessage = "status_code_and_message"
    case specialStatusMessage = "special_status_message"
    case unimplementedMethod = "unimplemented_method"
    case unimplementedService = "unimplemented_service"
    case customMetadata = "custom_metadata"

    public var description: String { rawValue }

    /// Runs the case against the server behind `client`.
    ///
    /// Throws `InteropFailure` naming the case and what differed when the server does not behave
    /// as described (including a call that fails when it should succeed). Once the running task is
    /// cancelled, errors pass through unchanged.
    public func run(using client: RPCClient) async throws {
        let check = InteropCheck(testCase: self)
        let service = Grpc_Testing_TestService.Client(client)
        switch self {
        case .emptyUnary: try await Self.emptyUnary(service, check)
        case .largeUnary: try await Self.largeUnary(service, check)
        case .clientStreaming: try await Self.clientStreaming(service, check)
        case .serverStreaming: try await Self.serverStreaming(service, check)
        case .pingPong: try await Self.pingPong(service, check)
        case .emptyStream: try await Self.emptyStream(service, check)
        case .cancelAfterBegin: try await Self.cancelAfterBegin(service, check)
        case .cancelAfterFirstResponse: try await Self.cancelAfterFirstResponse(service, check)
        case .timeoutOnSleepingServer: try await Self.timeoutOnSleepingServer(service, check)
        case .statusCodeAndMessage: try await Self.statusCodeAndMessage(service, check)
        case .specialStatusMessage: try await Self.specialStatusMessage(service, check)
        case .unimplementedMethod: try await Self.unimplementedMethod(service, check)
        case .unimplementedService: try await Self.unimplementedService(client, check)
        case .customMetadata: try await Self.customMetadata(client, check)
        }
    }
}
