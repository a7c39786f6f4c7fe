import CapstanInterop
import CapstanRPC
import Testing

@Suite("Interop test cases against InteropTestService", .timeLimit(.minutes(1)))
struct InteropTestCaseTests {
    @Test("every case passes against the interop service over the in-process transport", arguments: InteropTestCase.allCases)
    func passes(_ testCase: InteropTestCase) async throws {
        try await withInteropServer { client in
            try await testCase.run(using: client)
        }
    }

    @Test("every case passes when all run one after another on one client, as '--test_case all' does")
    func allInSequence() async throws {
        try await withInteropServer { client in
            for testCase in InteropTestCase.allCases {
                try await testCase.run(using: client)
            }
        }
    }

    @Test("raw values are the names of grpc's interop-test-descriptions.md")
    func names() {
        #expect(InteropTestCase.allCases.map(\.rawValue) == [
            "empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong", "empty_stream",
            "cancel_after_begin", "cancel_after_first_response", "timeout_on_sleeping_server",
            "status_code_and_message", "special_status_message", "unimplemented_method", "unimplemented_service",
            "custom_metadata",
        ])
        #expect(InteropTestCase(rawValue: "large_unary") == .largeUnary)
        #expect("\(InteropTestCase.customMetadata)" == "custom_metadata")
    }
}
