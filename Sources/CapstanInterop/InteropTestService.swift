public import CapstanRPC

/// `grpc.testing.TestService` as gRPC's interop servers implement it (the server features of
/// grpc/grpc `doc/interop-test-descriptions.md`), so any gRPC interop client can test us.
///
/// - **EmptyCall** returns the empty message.
/// - **UnaryCall** returns `response_size` zero bytes.
/// - **StreamingOutputCall** sends one response per `response_parameters` entry, sleeping
///   `interval_us` before each.
/// - **StreamingInputCall** returns the summed size of the request payloads once the client
///   half-closes.
/// - **FullDuplexCall** answers each request as soon as it arrives (one response per
///   `response_parameters` entry, as above).
/// - **HalfDuplexCall** reads every request up to the half-close, then answers them in order.
/// - **UnimplementedCall** fails with `UNIMPLEMENTED`, as servers that leave it out do.
///
/// Shared rules (see `InteropEcho`): a request whose `response_status` has a non-zero code ends
/// the call with that code and message before anything of that request is answered (and later
/// requests are not processed); `x-grpc-test-echo-initial` comes back as a response header and
/// `x-grpc-test-echo-trailing-bin` as a trailer on EmptyCall, UnaryCall, FullDuplexCall and
/// HalfDuplexCall. A `response_type` other than `COMPRESSABLE` fails with `INVALID_ARGUMENT`.
public struct InteropTestService: Grpc_Testing_TestService.Handler {
    /// Waits between streamed responses; `Task.sleep` except in tests.
    private let sleep: @Sendable (Duration) async throws -> Void

    public init() {
        self.init(sleep: { try await Task.sleep(for: $0) })
    }

    /// A service that waits for `interval_us` with `sleep` (tests record the intervals instead).
    init(sleep: @escaping @Sendable (Duration) async throws -> Void) {
        self.sleep = sleep
    }

    nonisolated(nonsending) public func emptyCall(request: Grpc_Testing_Empty, context: ServerContext) async throws -> Grpc_Testing_Empty {
        try InteropEcho.echoMetadata(context)
        return Grpc_Testing_Empty()
    }

    nonisolated(nonsending) public func unaryCall(
        request: Grpc_Testing_SimpleRequest, context: ServerContext
    ) async throws -> Grpc_Testing_SimpleResponse {
        try InteropEcho.echoMetadata(context)
        if let status = InteropEcho.requestedError(request.hasResponseStatus ? request.responseStatus : nil) {
            throw status
        }
        var response = Grpc_Testing_SimpleResponse()
        response.payload = try InteropPayload.zeros(type: request.responseType, size: request.responseSize)
        return response
    }

    nonisolated(nonsending) public func streamingOutputCall(
        request: Grpc_Testing_StreamingOutputCallRequest,
        response: ResponseStream<Grpc_Testing_StreamingOutputCallResponse>,
        context: ServerContext
    ) async throws {
        try await answer(request, on: response)
    }

    nonisolated(nonsending) public func streamingInputCall(
        requests: RequestStream<Grpc_Testing_StreamingInputCallRequest>, context: ServerContext
    ) async throws -> Grpc_Testing_StreamingInputCallResponse {
        var total = 0
        for try await request in requests {
            total += request.payload.body.count
        }
        guard let aggregated = Int32(exactly: total) else {
            throw RPCError(code: .outOfRange, message: "the aggregated payload size \(total) does not fit aggregated_payload_size (int32)")
        }
        var response = Grpc_Testing_StreamingInputCallResponse()
        response.aggregatedPayloadSize = aggregated
        return response
    }

    nonisolated(nonsending) public func fullDuplexCall(
        requests: RequestStream<Grpc_Testing_StreamingOutputCallRequest>,
        response: ResponseStream<Grpc_Testing_StreamingOutputCallResponse>,
        context: ServerContext
    ) async throws {
        try InteropEcho.echoMetadata(context)
        for try await request in requests {
            try await answer(request, on: response)
        }
    }

    nonisolated(nonsending) public func halfDuplexCall(
        requests: RequestStream<Grpc_Testing_StreamingOutputCallRequest>,
        response: ResponseStream<Grpc_Testing_StreamingOutputCallResponse>,
        context: ServerContext
    ) async throws {
        try InteropEcho.echoMetadata(context)
        var received: [Grpc_Testing_StreamingOutputCallRequest] = []
        for try await request in requests {
            received.append(request)
        }
        for request in received {
            try await answer(request, on: response)
        }
    }

    nonisolated(nonsending) public func unimplementedCall(request: Grpc_Testing_Empty, context: ServerContext) async throws -> Grpc_Testing_Empty {
        throw RPCError(
            code: .unimplemented,
            message: "\(Grpc_Testing_TestService.Method.unimplementedCall.path) is deliberately not implemented"
        )
    }

    /// Answers one streaming request: its echoed status if it asks for one, else one response
    /// per `response_parameters` entry, each after its `interval_us`.
    private func answer(
        _ request: Grpc_Testing_StreamingOutputCallRequest,
        on response: ResponseStream<Grpc_Testing_StreamingOutputCallResponse>
    ) async throws {
        if let status = InteropEcho.requestedError(request.hasResponseStatus ? request.responseStatus : nil) {
            throw status
        }
        // Check every entry before the first response, so a bad request fails without partial output.
        for parameters in request.responseParameters {
            try InteropPayload.check(type: request.responseType, size: parameters.size)
        }
        for parameters in request.responseParameters {
            if parameters.intervalUs > 0 {
                try await sleep(.microseconds(parameters.intervalUs))
            }
            var message = Grpc_Testing_StreamingOutputCallResponse()
            message.payload = try InteropPayload.zeros(type: request.responseType, size: parameters.size)
            try await response.write(message)
        }
    }
}
