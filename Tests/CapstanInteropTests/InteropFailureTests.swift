import CapstanInterop
import CapstanRPC
import Testing

/// Each case must fail, naming itself and what differed, when the server breaks the rule the
/// case checks.
@Suite("Interop cases against misbehaving servers", .timeLimit(.minutes(1)))
struct InteropFailureTests {
    @Test("large_unary reports a payload of the wrong size")
    func shortPayload() async throws {
        let failure = try await interopFailure(of: .largeUnary, against: MisbehavingService(.shortUnaryPayload))
        #expect(failure?.testCase == .largeUnary)
        #expect(failure?.message == "the UnaryCall response's payload body is 314158 bytes, expected 314159")
        #expect(failure.map(String.init(describing:)) ==
            "interop test case large_unary failed: the UnaryCall response's payload body is 314158 bytes, expected 314159")
    }

    @Test("large_unary reports a payload that is not all zeros")
    func nonZeroPayload() async throws {
        let failure = try await interopFailure(of: .largeUnary, against: MisbehavingService(.nonZeroUnaryPayload))
        #expect(failure?.message == "the UnaryCall response's payload body has the non-zero byte 7 at offset 1000, expected only zeros")
    }

    @Test("custom_metadata also checks the unary payload size")
    func customMetadataPayload() async throws {
        let failure = try await interopFailure(of: .customMetadata, against: MisbehavingService(.shortUnaryPayload))
        #expect(failure?.testCase == .customMetadata)
        #expect(failure?.message == "the UnaryCall response's payload body is 314158 bytes, expected 314159")
    }

    @Test("client_streaming reports a wrong aggregated size")
    func aggregate() async throws {
        let failure = try await interopFailure(of: .clientStreaming, against: MisbehavingService(.inflatedAggregate))
        #expect(failure?.testCase == .clientStreaming)
        #expect(failure?.message == "the StreamingInputCall response's aggregated_payload_size is 74923, expected 74922")
    }

    @Test("server_streaming reports a missing response")
    func missingResponse() async throws {
        let failure = try await interopFailure(of: .serverStreaming, against: MisbehavingService(.dropsLastStreamedResponse))
        #expect(failure?.testCase == .serverStreaming)
        #expect(failure?.message ==
            "StreamingOutputCall sent 3 responses (payload sizes [31415, 9, 2653]), expected 4 of sizes [31415, 9, 2653, 58979]")
    }

    @Test("ping_pong and empty_stream report a response too many")
    func extraResponse() async throws {
        let pingPong = try await interopFailure(of: .pingPong, against: MisbehavingService(.extraDuplexResponse))
        #expect(pingPong?.testCase == .pingPong)
        #expect(pingPong?.message == "FullDuplexCall sent a fifth response (0 bytes) after the half-close, expected 4 in all")
        let emptyStream = try await interopFailure(of: .emptyStream, against: MisbehavingService(.extraDuplexResponse))
        #expect(emptyStream?.testCase == .emptyStream)
        #expect(emptyStream?.message == "FullDuplexCall sent 1 response to an empty request stream, expected none")
    }

    @Test("status_code_and_message reports a wrong code, with the status received")
    func wrongCode() async throws {
        let failure = try await interopFailure(of: .statusCodeAndMessage, against: MisbehavingService(.wrongStatusCode))
        #expect(failure?.testCase == .statusCodeAndMessage)
        #expect(failure?.message ==
            #"UnaryCall asking for status 2 failed with INTERNAL "test status message", expected status UNKNOWN"#)
        #expect(failure?.status == RPCStatus(code: .internal, message: "test status message"))
    }

    @Test("status_code_and_message reports a FullDuplexCall that ignores response_status")
    func duplexIgnoresStatus() async throws {
        let failure = try await interopFailure(of: .statusCodeAndMessage, against: MisbehavingService(.duplexIgnoresStatus))
        #expect(failure?.message == "FullDuplexCall asking for status 2 succeeded, expected it to fail with status UNKNOWN")
    }

    @Test("special_status_message reports mangled whitespace, which status_code_and_message cannot see")
    func mangledWhitespace() async throws {
        let special = try await interopFailure(of: .specialStatusMessage, against: MisbehavingService(.mangledStatusWhitespace))
        #expect(special?.testCase == .specialStatusMessage)
        #expect(special?.message == #"UnaryCall asking for status 2 failed with UNKNOWN as expected, but its message is "\ntest with whitespaceand Unicode BMP ☺ and non-BMP 😈\n", expected "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n""#)
        let plain = try await interopFailure(of: .statusCodeAndMessage, against: MisbehavingService(.mangledStatusWhitespace))
        #expect(plain == nil)
    }

    @Test("custom_metadata reports a missing trailer echo")
    func missingTrailer() async throws {
        let failure = try await interopFailure(of: .customMetadata, against: MisbehavingService(.noTrailingEcho))
        #expect(failure?.testCase == .customMetadata)
        #expect(failure?.message.hasPrefix(
            "UnaryCall's trailers carry x-grpc-test-echo-trailing-bin = nothing, expected 0xababab") == true)
    }

    @Test("unimplemented_method reports a method that succeeds")
    func implementedMethod() async throws {
        let failure = try await interopFailure(of: .unimplementedMethod, against: MisbehavingService(.implementsUnimplementedCall))
        #expect(failure?.testCase == .unimplementedMethod)
        #expect(failure?.message == "TestService/UnimplementedCall succeeded, expected it to fail with status UNIMPLEMENTED")
        #expect(failure?.status == .ok)
    }

    @Test("unimplemented_service reports a server that implements UnimplementedService")
    func implementedService() async throws {
        struct Implemented: Grpc_Testing_UnimplementedService.Handler {
            func unimplementedCall(request: Grpc_Testing_Empty, context: ServerContext) async throws -> Grpc_Testing_Empty {
                Grpc_Testing_Empty()
            }
        }
        let failure = try await interopFailure(of: .unimplementedService, against: InteropTestService()) { router in
            Implemented().register(on: &router)
        }
        #expect(failure?.message == "UnimplementedService/UnimplementedCall succeeded, expected it to fail with status UNIMPLEMENTED")
    }

    @Test("a call that fails when it should succeed is reported with its status")
    func unexpectedError() async throws {
        let absent = RPCError(code: .unimplemented, message: "grpc.testing.TestService/EmptyCall is absent")
        try await withInteropServer(routes: { $0.answer(path: Grpc_Testing_TestService.Method.emptyCall.path, with: absent) }) { client in
            let error = await #expect(throws: InteropFailure.self) { try await InteropTestCase.emptyUnary.run(using: client) }
            #expect(error?.testCase == .emptyUnary)
            #expect(error?.message ==
                #"EmptyCall failed with UNIMPLEMENTED "grpc.testing.TestService/EmptyCall is absent", expected it to succeed"#)
            #expect(error?.status?.code == .unimplemented)
        }
    }
}

