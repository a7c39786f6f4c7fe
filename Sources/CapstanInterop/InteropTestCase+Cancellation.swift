import CapstanRPC

/// cancel_after_begin, cancel_after_first_response and timeout_on_sleeping_server: calls that end
/// because the client stops waiting.
extension InteropTestCase {
    /// StreamingInputCall cancelled right after it started (before any message) completes with
    /// CANCELLED.
    static func cancelAfterBegin(_ service: Grpc_Testing_TestService.Client, _ check: InteropCheck) async throws {
        let call = try await check.succeeds("starting StreamingInputCall") { try await service.streamingInputCall() }
        call.cancel()
        try await check.fails("StreamingInputCall cancelled after it began", with: .cancelled) {
            _ = try await call.finish()
        }
    }

    /// FullDuplexCall (asking for 31415 bytes, sending 27182) cancelled after its first response
    /// completes with CANCELLED.
    static func cancelAfterFirstResponse(_ service: Grpc_Testing_TestService.Client, _ check: InteropCheck) async throws {
        let call = try await check.succeeds("starting FullDuplexCall") { try await service.fullDuplexCall() }
        var responses = call.responses.makeAsyncIterator()
        let first = try await check.succeeds("FullDuplexCall before the cancel") {
            try await call.send(duplexRequest(responseSize: 31_415, payloadSize: 27_182))
            return try await responses.next()
        }
        try check.expect(first != nil, "FullDuplexCall ended with OK before its first response, expected one response")
        call.cancel()
        try await check.fails("FullDuplexCall cancelled after its first response", with: .cancelled) {
            _ = try await responses.next()
        }
    }

    /// FullDuplexCall with a 1 ms timeout, sending 27182 bytes and asking for nothing, with the
    /// request stream left open, completes with DEADLINE_EXCEEDED.
    static func timeoutOnSleepingServer(_ service: Grpc_Testing_TestService.Client, _ check: InteropCheck) async throws {
        try await check.fails("FullDuplexCall with a 1 ms timeout", with: .deadlineExceeded) {
            let call = try await service.fullDuplexCall(options: CallOptions(timeout: .milliseconds(1)))
            var request = Grpc_Testing_StreamingOutputCallRequest()
            request.responseType = .compressable
            request.payload = InteropPayload.zeros(count: 27_182)
            try await call.send(request)
            for try await _ in call.responses {}
        }
    }
}
