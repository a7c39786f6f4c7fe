import CapstanRPC

/// status_code_and_message, special_status_message, unimplemented_method and
/// unimplemented_service: statuses that must reach the client unchanged.
extension InteropTestCase {
    /// The message status_code_and_message asks the server to echo.
    static let plainStatusMessage = "test status message"
    /// The message special_status_message asks the server to echo: whitespace and characters
    /// inside and outside Unicode's Basic Multilingual Plane, all of which must survive.
    static let specialStatusMessageText = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n"

    /// An echo status of code 2 (UNKNOWN) with `message`.
    static func echoStatus(_ message: String) -> Grpc_Testing_EchoStatus {
        var status = Grpc_Testing_EchoStatus()
        status.code = Int32(RPCCode.unknown.rawValue)
        status.message = message
        return status
    }

    /// UnaryCall, then FullDuplexCall (one request, then a half-close), both asking for status 2
    /// with "test status message", end with exactly that code and message.
    static func statusCodeAndMessage(_ service: Grpc_Testing_TestService.Client, _ check: InteropCheck) async throws {
        var unary = Grpc_Testing_SimpleRequest()
        unary.responseStatus = echoStatus(plainStatusMessage)
        try await check.fails("UnaryCall asking for status 2", with: .unknown, message: plainStatusMessage) {
            _ = try await service.unaryCall(unary)
        }

        var duplex = Grpc_Testing_StreamingOutputCallRequest()
        duplex.responseStatus = echoStatus(plainStatusMessage)
        try await check.fails("FullDuplexCall asking for status 2", with: .unknown, message: plainStatusMessage) {
            let call = try await service.fullDuplexCall()
            try await call.send(duplex)
            call.closeSend()
            for try await _ in call.responses {}
        }
    }

    /// UnaryCall asking for status 2 with `specialStatusMessageText` ends with exactly that code and
    /// message, whitespace included.
    static func specialStatusMessage(_ service: Grpc_Testing_TestService.Client, _ check: InteropCheck) async throws {
        var request = Grpc_Testing_SimpleRequest()
        request.responseStatus = echoStatus(specialStatusMessageText)
        try await check.fails("UnaryCall asking for status 2", with: .unknown, message: specialStatusMessageText) {
            _ = try await service.unaryCall(request)
        }
    }

    /// `grpc.testing.TestService/UnimplementedCall` with an empty request fails with UNIMPLEMENTED.
    static func unimplementedMethod(_ service: Grpc_Testing_TestService.Client, _ check: InteropCheck) async throws {
        try await check.fails("TestService/UnimplementedCall", with: .unimplemented) {
            _ = try await service.unimplementedCall(Grpc_Testing_Empty())
        }
    }

    /// `grpc.testing.UnimplementedService/UnimplementedCall` with an empty request fails with
    /// UNIMPLEMENTED.
    static func unimplementedService(_ client: RPCClient, _ check: InteropCheck) async throws {
        let service = Grpc_Testing_UnimplementedService.Client(client)
        try await check.fails("UnimplementedService/UnimplementedCall", with: .unimplemented) {
            _ = try await service.unimplementedCall(Grpc_Testing_Empty())
        }
    }
}
