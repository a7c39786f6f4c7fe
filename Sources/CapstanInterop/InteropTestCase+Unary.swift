import CapstanRPC

/// empty_unary and large_unary: unary calls with zero-size and large messages.
extension InteropTestCase {
    /// The large_unary request, reused by custom_metadata: 314159 response bytes for 271828 sent.
    static func largeUnaryRequest() -> Grpc_Testing_SimpleRequest {
        var request = Grpc_Testing_SimpleRequest()
        request.responseType = .compressable
        request.responseSize = 314_159
        request.payload = InteropPayload.zeros(count: 271_828)
        return request
    }

    /// EmptyCall with the default Empty message succeeds (the response cannot be null here: it
    /// is a value).
    static func emptyUnary(_ service: Grpc_Testing_TestService.Client, _ check: InteropCheck) async throws {
        _ = try await check.succeeds("EmptyCall") { try await service.emptyCall(Grpc_Testing_Empty()) }
    }

    /// UnaryCall sending 271828 zero bytes and asking for 314159 succeeds with a 314159-byte
    /// zero payload.
    static func largeUnary(_ service: Grpc_Testing_TestService.Client, _ check: InteropCheck) async throws {
        let response = try await check.succeeds("UnaryCall") { try await service.unaryCall(largeUnaryRequest()) }
        try check.expectPayload(response.payload, size: 314_159, in: "the UnaryCall response")
    }
}
