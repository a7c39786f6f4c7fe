import CapstanInterop
import CapstanRPC

/// A `TestService` that breaks one rule of the interop server and otherwise behaves like
/// `InteropTestService`, to show that the cases notice.
struct MisbehavingService: Grpc_Testing_TestService.Handler {
    enum Fault: Sendable {
        /// UnaryCall answers one byte short.
        case shortUnaryPayload
        /// UnaryCall answers a payload with a non-zero byte.
        case nonZeroUnaryPayload
        /// StreamingInputCall reports one byte more than it received.
        case inflatedAggregate
        /// StreamingOutputCall leaves out the last response.
        case dropsLastStreamedResponse
        /// FullDuplexCall sends one response too many after the half-close.
        case extraDuplexResponse
        /// Requested statuses come back as INTERNAL.
        case wrongStatusCode
        /// Requested status messages lose their tabs and carriage returns.
        case mangledStatusWhitespace
        /// FullDuplexCall ignores response_status.
        case duplexIgnoresStatus
        /// Nothing echoes `x-grpc-test-echo-trailing-bin`.
        case noTrailingEcho
        /// UnimplementedCall succeeds.
        case implementsUnimplementedCall
    }

    let fault: Fault
    private let correct = InteropTestService()

    init(_ fault: Fault) {
        self.fault = fault
    }

    func emptyCall(request: Grpc_Testing_Empty, context: ServerContext) async throws -> Grpc_Testing_Empty {
        try await correct.emptyCall(request: request, context: filtered(context))
    }

    func unaryCall(request: Grpc_Testing_SimpleRequest, context: ServerContext) async throws -> Grpc_Testing_SimpleResponse {
        var request = request
        if request.hasResponseStatus, let status = misreported(request.responseStatus) {
            request.responseStatus = status
        }
        var response = try await correct.unaryCall(request: request, context: filtered(context))
        switch fault {
        case .shortUnaryPayload: response.payload.body.removeLast()
        case .nonZeroUnaryPayload: response.payload.body[1000] = 7
        default: break
        }
        return response
    }

    func streamingOutputCall(
        request: Grpc_Testing_StreamingOutputCallRequest,
        response: ResponseStream<Grpc_Testing_StreamingOutputCallResponse>,
        context: ServerContext
    ) async throws {
        var request = request
        if fault == .dropsLastStreamedResponse { request.responseParameters.removeLast() }
        try await correct.streamingOutputCall(request: request, response: response, context: context)
    }

    func streamingInputCall(
        requests: RequestStream<Grpc_Testing_StreamingInputCallRequest>, context: ServerContext
    ) async throws -> Grpc_Testing_StreamingInputCallResponse {
        var response = try await correct.streamingInputCall(requests: requests, context: context)
        if fault == .inflatedAggregate { response.aggregatedPayloadSize += 1 }
        return response
    }

    func fullDuplexCall(
        requests: RequestStream<Grpc_Testing_StreamingOutputCallRequest>,
        response: ResponseStream<Grpc_Testing_StreamingOutputCallResponse>,
        context: ServerContext
    ) async throws {
        switch fault {
        case .extraDuplexResponse:
            try await correct.fullDuplexCall(requests: requests, response: response, context: context)
            try await response.write(Grpc_Testing_StreamingOutputCallResponse())
        case .duplexIgnoresStatus, .wrongStatusCode, .mangledStatusWhitespace:
            // RequestStream cannot be rebuilt with changed requests, so answer here.
            for try await request in requests {
                if let status = misreported(request.hasResponseStatus ? request.responseStatus : nil), fault != .duplexIgnoresStatus {
                    throw RPCError(code: RPCCode(wireValue: Int(status.code)), message: status.message)
                }
                for parameters in request.responseParameters {
                    var message = Grpc_Testing_StreamingOutputCallResponse()
                    message.payload = InteropPayload.zeros(count: Int(parameters.size))
                    try await response.write(message)
                }
            }
        default:
            try await correct.fullDuplexCall(requests: requests, response: response, context: filtered(context))
        }
    }

    func halfDuplexCall(
        requests: RequestStream<Grpc_Testing_StreamingOutputCallRequest>,
        response: ResponseStream<Grpc_Testing_StreamingOutputCallResponse>,
        context: ServerContext
    ) async throws {
        try await correct.halfDuplexCall(requests: requests, response: response, context: filtered(context))
    }

    func unimplementedCall(request: Grpc_Testing_Empty, context: ServerContext) async throws -> Grpc_Testing_Empty {
        if fault == .implementsUnimplementedCall { return Grpc_Testing_Empty() }
        return try await correct.unimplementedCall(request: request, context: context)
    }

    /// The context without the trailing echo key, for `.noTrailingEcho`.
    private func filtered(_ context: ServerContext) -> ServerContext {
        guard fault == .noTrailingEcho else { return context }
        var context = context
        context.metadata.removeAll(InteropEcho.trailingMetadataKey)
        return context
    }

    /// The requested status as this server misreports it.
    private func misreported(_ status: Grpc_Testing_EchoStatus?) -> Grpc_Testing_EchoStatus? {
        guard var status, status.code != 0 else { return status }
        switch fault {
        case .wrongStatusCode: status.code = Int32(RPCCode.internal.rawValue)
        case .mangledStatusWhitespace: status.message = status.message.filter { $0 != "\t" && $0 != "\r\n" && $0 != "\r" }
        default: break
        }
        return status
    }
}
