import CapstanRPC

/// custom_metadata: ASCII and binary metadata echoed as response headers and trailers.
extension InteropTestCase {
    /// The value custom_metadata sends as `x-grpc-test-echo-initial`.
    static let echoedInitialValue = "test_initial_metadata_value"
    /// The value custom_metadata sends as `x-grpc-test-echo-trailing-bin`: 0xababab.
    static let echoedTrailingValue: [UInt8] = [0xAB, 0xAB, 0xAB]

    /// UnaryCall (the large_unary request), then FullDuplexCall (one request asking for 314159
    /// bytes and sending 271828, then a half-close), both sent with `x-grpc-test-echo-initial`
    /// and `x-grpc-test-echo-trailing-bin`, succeed with the first echoed in the response headers
    /// and the second in the trailers.
    static func customMetadata(_ client: RPCClient, _ check: InteropCheck) async throws {
        var options = CallOptions()
        try options.metadata.add(InteropEcho.initialMetadataKey, echoedInitialValue)
        try options.metadata.add(InteropEcho.trailingMetadataKey, binary: echoedTrailingValue)

        // A unary call returns only its response: observe its headers and trailers below it.
        let recorder = ResponseMetadataRecorder()
        let observed = Grpc_Testing_TestService.Client(
            RPCClient(transport: client.transport, interceptors: client.interceptors + [recorder])
        )
        let response = try await check.succeeds("UnaryCall") {
            try await observed.unaryCall(largeUnaryRequest(), options: options)
        }
        try check.expectPayload(response.payload, size: 314_159, in: "the UnaryCall response")
        try expectEchoes(headers: recorder.headers, trailers: recorder.trailers, of: "UnaryCall", check)

        let service = Grpc_Testing_TestService.Client(client)
        let (headers, sizes, trailers) = try await check.succeeds("FullDuplexCall") {
            let call = try await service.fullDuplexCall(options: options)
            try await call.send(duplexRequest(responseSize: 314_159, payloadSize: 271_828))
            call.closeSend()
            let headers = try await call.responseMetadata
            var sizes: [Int] = []
            for try await response in call.responses {
                try check.expectPayload(response.payload, size: 314_159, in: "the FullDuplexCall response")
                sizes.append(response.payload.body.count)
            }
            return (headers, sizes, call.trailingMetadata)
        }
        try check.expect(sizes.count == 1, "FullDuplexCall sent \(InteropCheck.responses(sizes.count)), expected 1")
        try expectEchoes(headers: headers, trailers: trailers, of: "FullDuplexCall", check)
    }

    private static func expectEchoes(
        headers: Metadata?, trailers: Metadata?, of call: String, _ check: InteropCheck
    ) throws(InteropFailure) {
        let initial = headers?[InteropEcho.initialMetadataKey] ?? []
        try check.expect(
            initial == [.string(echoedInitialValue)],
            "\(call)'s response headers carry \(InteropEcho.initialMetadataKey) = \(describe(initial)), "
                + "expected \(String(reflecting: echoedInitialValue)) (all headers: \(headers.map(String.init(describing:)) ?? "none"))"
        )
        let trailing = trailers?[InteropEcho.trailingMetadataKey] ?? []
        try check.expect(
            trailing == [.binary(echoedTrailingValue)],
            "\(call)'s trailers carry \(InteropEcho.trailingMetadataKey) = \(describe(trailing)), "
                + "expected 0xababab (all trailers: \(trailers.map(String.init(describing:)) ?? "none"))"
        )
    }

    /// Metadata values for a failure message: quoted text, hexadecimal bytes.
    private static func describe(_ values: [Metadata.Value]) -> String {
        guard !values.isEmpty else { return "nothing" }
        return values.map { value in
            switch value {
            case .string(let text): String(reflecting: text)
            case .binary(let bytes): "0x" + bytes.map { byte in
                let hex = String(byte, radix: 16)
                return hex.count == 1 ? "0" + hex : hex
            }.joined()
            }
        }.joined(separator: ", ")
    }
}
