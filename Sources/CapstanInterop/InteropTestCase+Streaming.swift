import CapstanRPC

/// client_streaming, server_streaming, ping_pong and empty_stream: every streaming shape.
extension InteropTestCase {
    /// The request payload sizes client_streaming and ping_pong send (74922 bytes in all).
    static let requestPayloadSizes = [27_182, 8, 1_828, 45_904]
    /// The response sizes server_streaming and ping_pong ask for.
    static let responseSizes: [Int32] = [31_415, 9, 2_653, 58_979]

    /// A FullDuplexCall request asking for one response of `responseSize` bytes.
    static func duplexRequest(responseSize: Int32, payloadSize: Int) -> Grpc_Testing_StreamingOutputCallRequest {
        var request = Grpc_Testing_StreamingOutputCallRequest()
        request.responseType = .compressable
        var parameters = Grpc_Testing_ResponseParameters()
        parameters.size = responseSize
        request.responseParameters = [parameters]
        request.payload = InteropPayload.zeros(count: payloadSize)
        return request
    }

    /// StreamingInputCall with payloads of 27182, 8, 1828 and 45904 bytes, then a half-close,
    /// succeeds with aggregated_payload_size 74922.
    static func clientStreaming(_ service: Grpc_Testing_TestService.Client, _ check: InteropCheck) async throws {
        let response = try await check.succeeds("StreamingInputCall") {
            let call = try await service.streamingInputCall()
            for size in requestPayloadSizes {
                var request = Grpc_Testing_StreamingInputCallRequest()
                request.payload = InteropPayload.zeros(count: size)
                try await call.send(request)
            }
            return try await call.finish()
        }
        try check.expect(
            response.aggregatedPayloadSize == 74_922,
            "the StreamingInputCall response's aggregated_payload_size is \(response.aggregatedPayloadSize), expected 74922"
        )
    }

    /// StreamingOutputCall asking for responses of 31415, 9, 2653 and 58979 bytes succeeds with
    /// exactly those four responses, in order.
    static func serverStreaming(_ service: Grpc_Testing_TestService.Client, _ check: InteropCheck) async throws {
        var request = Grpc_Testing_StreamingOutputCallRequest()
        request.responseType = .compressable
        request.responseParameters = responseSizes.map { size in
            var parameters = Grpc_Testing_ResponseParameters()
            parameters.size = size
            return parameters
        }
        let responses = try await check.succeeds("StreamingOutputCall") {
            var responses: [Grpc_Testing_StreamingOutputCallResponse] = []
            for try await response in try await service.streamingOutputCall(request) {
                responses.append(response)
            }
            return responses
        }
        try check.expect(
            responses.count == responseSizes.count,
            "StreamingOutputCall sent \(InteropCheck.responses(responses.count)) (payload sizes \(responses.map(\.payload.body.count))), "
                + "expected 4 of sizes \(responseSizes)"
        )
        for (index, (response, size)) in zip(responses, responseSizes).enumerated() {
            try check.expectPayload(response.payload, size: Int(size), in: "StreamingOutputCall response \(index + 1)")
        }
    }

    /// FullDuplexCall in lock step: each of four requests (asking for 31415, 9, 2653, 58979 bytes,
    /// sending 27182, 8, 1828, 45904) is answered by one response of the asked size before the
    /// next is sent; after the half-close the call ends with OK and no further response.
    static func pingPong(_ service: Grpc_Testing_TestService.Client, _ check: InteropCheck) async throws {
        try await check.succeeds("FullDuplexCall") {
            let call = try await service.fullDuplexCall()
            var responses = call.responses.makeAsyncIterator()
            for (index, (responseSize, payloadSize)) in zip(responseSizes, requestPayloadSizes).enumerated() {
                try await call.send(duplexRequest(responseSize: responseSize, payloadSize: payloadSize))
                guard let response = try await responses.next() else {
                    throw check.failure("FullDuplexCall ended with OK after \(InteropCheck.responses(index)), expected 4")
                }
                try check.expectPayload(response.payload, size: Int(responseSize), in: "FullDuplexCall response \(index + 1)")
            }
            call.closeSend()
            if let extra = try await responses.next() {
                throw check.failure(
                    "FullDuplexCall sent a fifth response (\(extra.payload.body.count) bytes) after the half-close, expected 4 in all"
                )
            }
        }
    }

    /// FullDuplexCall half-closed at once succeeds with zero responses.
    static func emptyStream(_ service: Grpc_Testing_TestService.Client, _ check: InteropCheck) async throws {
        let count = try await check.succeeds("FullDuplexCall") {
            let call = try await service.fullDuplexCall()
            call.closeSend()
            var count = 0
            for try await _ in call.responses { count += 1 }
            return count
        }
        try check.expect(count == 0, "FullDuplexCall sent \(InteropCheck.responses(count)) to an empty request stream, expected none")
    }
}
