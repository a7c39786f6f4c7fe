@testable import CapstanInterop
import CapstanRPC
import Testing

@Suite("InteropTestService", .timeLimit(.minutes(1)))
struct InteropTestServiceTests {
    typealias Service = Grpc_Testing_TestService.Client

    // MARK: EmptyCall and UnaryCall

    @Test("EmptyCall returns Empty and echoes both metadata keys")
    func emptyCall() async throws {
        try await withInteropServer { client in
            let recorder = ResponseMetadataRecorder()
            let service = Service(RPCClient(transport: client.transport, interceptors: [recorder]))
            _ = try await service.emptyCall(Grpc_Testing_Empty(), options: try Requests.echoOptions())
            #expect(recorder.headers?.first(InteropEcho.initialMetadataKey) == "hello")
            #expect(recorder.trailers?.firstBinary(InteropEcho.trailingMetadataKey) == [1, 2, 3])
        }
    }

    @Test("UnaryCall answers response_size zero bytes of type COMPRESSABLE", arguments: [0, 1, 314_159] as [Int32])
    func unarySizes(_ size: Int32) async throws {
        try await withInteropServer { client in
            let response = try await Service(client).unaryCall(Requests.unary(size: size))
            #expect(response.payload.type == .compressable)
            #expect(response.payload.body == [UInt8](repeating: 0, count: Int(size)))
        }
    }

    @Test("UnaryCall refuses payload types other than COMPRESSABLE, and negative or excessive sizes")
    func unaryRefusals() async throws {
        try await withInteropServer { client in
            let service = Service(client)
            let badType = await rpcError { _ = try await service.unaryCall(Requests.unary(size: 10, type: .unrecognized(1))) }
            #expect(badType?.code == .invalidArgument)
            #expect(badType?.message == "payload type 1 is not supported: only COMPRESSABLE (0) is")
            let negative = await rpcError { _ = try await service.unaryCall(Requests.unary(size: -1)) }
            #expect(negative?.code == .invalidArgument)
            let huge = await rpcError { _ = try await service.unaryCall(Requests.unary(size: Int32(InteropPayload.maximumSize) + 1)) }
            #expect(huge?.code == .resourceExhausted)
        }
    }

    @Test("UnaryCall fails with the requested status, still echoing metadata; code 0 asks for nothing")
    func unaryStatus() async throws {
        try await withInteropServer { client in
            let service = Service(client)
            var request = Requests.unary(size: 5)
            request.responseStatus = Requests.echoStatus(code: .notFound, message: "nothing \t here ☺")
            let error = await rpcError { _ = try await service.unaryCall(request, options: try Requests.echoOptions()) }
            #expect(error?.code == .notFound)
            #expect(error?.message == "nothing \t here ☺")
            // A trailers-only response: the echoed header travels with the trailers.
            #expect(error?.trailers.first(InteropEcho.initialMetadataKey) == "hello")
            #expect(error?.trailers.firstBinary(InteropEcho.trailingMetadataKey) == [1, 2, 3])

            request.responseStatus = Requests.echoStatus(code: .ok, message: "ignored")
            let response = try await service.unaryCall(request)
            #expect(response.payload.body.count == 5)
        }
    }

    @Test("UnaryCall echoes only what the client sent")
    func noEchoUnasked() async throws {
        try await withInteropServer { client in
            let recorder = ResponseMetadataRecorder()
            let service = Service(RPCClient(transport: client.transport, interceptors: [recorder]))
            _ = try await service.unaryCall(Requests.unary(size: 1))
            #expect(recorder.headers?.isEmpty == true)
            #expect(recorder.trailers?.isEmpty == true)
        }
    }

    @Test("UnimplementedCall fails with UNIMPLEMENTED")
    func unimplemented() async throws {
        try await withInteropServer { client in
            let error = await rpcError { _ = try await Service(client).unimplementedCall(Grpc_Testing_Empty()) }
            #expect(error?.code == .unimplemented)
        }
    }

    // MARK: Streaming

    @Test("StreamingOutputCall sends one response per parameters entry, in order, sleeping interval_us before each")
    func streamingOutput() async throws {
        let sleeps = Log<Duration>()
        let service = InteropTestService(sleep: { sleeps.append($0) })
        try await withInteropServer(service) { client in
            let request = Requests.streaming(sizes: [3, 0, 7], intervalsUs: [1_500, 0, 20])
            var sizes: [Int] = []
            for try await response in try await Service(client).streamingOutputCall(request) {
                #expect(response.payload.type == .compressable)
                sizes.append(response.payload.body.count)
            }
            #expect(sizes == [3, 0, 7])
        }
        #expect(sleeps.all == [.microseconds(1_500), .microseconds(20)])
    }

    @Test("StreamingOutputCall refuses a bad request before sending anything")
    func streamingOutputRefusal() async throws {
        try await withInteropServer { client in
            let service = Service(client)
            for request in [Requests.streaming(sizes: [1, 2], type: .unrecognized(7)), Requests.streaming(sizes: [1, -2])] {
                var received = 0
                let error = await rpcError {
                    for try await _ in try await service.streamingOutputCall(request) { received += 1 }
                }
                #expect(error?.code == .invalidArgument)
                #expect(received == 0)
            }
        }
    }

    @Test("StreamingInputCall answers the summed payload size at the half-close")
    func streamingInput() async throws {
        try await withInteropServer { client in
            let service = Service(client)
            let call = try await service.streamingInputCall()
            for size in [10, 0, 32_000] {
                var request = Grpc_Testing_StreamingInputCallRequest()
                request.payload = InteropPayload.zeros(count: size)
                try await call.send(request)
            }
            #expect(try await call.finish().aggregatedPayloadSize == 32_010)

            let empty = try await service.streamingInputCall()
            #expect(try await empty.finish().aggregatedPayloadSize == 0)
        }
    }

    @Test("FullDuplexCall answers each request as it arrives, every parameters entry, then ends with OK")
    func fullDuplex() async throws {
        try await withInteropServer { client in
            let call = try await Service(client).fullDuplexCall(options: try Requests.echoOptions())
            var responses = call.responses.makeAsyncIterator()
            try await call.send(Requests.streaming(sizes: [4, 5]))
            #expect(try await responses.next()?.payload.body.count == 4)
            #expect(try await responses.next()?.payload.body.count == 5)
            // Only answered requests have been sent so far: the server did not wait for the half-close.
            try await call.send(Requests.streaming(sizes: [6]))
            #expect(try await responses.next()?.payload.body.count == 6)
            call.closeSend()
            #expect(try await responses.next() == nil)
            #expect(try await call.responseMetadata.first(InteropEcho.initialMetadataKey) == "hello")
            #expect(call.trailingMetadata?.firstBinary(InteropEcho.trailingMetadataKey) == [1, 2, 3])
        }
    }

    @Test("FullDuplexCall ends with a requested status at that request, with the echoed trailer")
    func fullDuplexStatus() async throws {
        try await withInteropServer { client in
            let call = try await Service(client).fullDuplexCall(options: try Requests.echoOptions())
            var responses = call.responses.makeAsyncIterator()
            try await call.send(Requests.streaming(sizes: [1]))
            #expect(try await responses.next()?.payload.body.count == 1)
            var failing = Requests.streaming(sizes: [2])
            failing.responseStatus = Requests.echoStatus(code: .aborted, message: "stop here")
            try await call.send(failing)
            let error = await rpcError { _ = try await responses.next() }
            #expect(error?.code == .aborted)
            #expect(error?.message == "stop here")
            #expect(error?.trailers.firstBinary(InteropEcho.trailingMetadataKey) == [1, 2, 3])
        }
    }

    @Test("FullDuplexCall refuses payload types other than COMPRESSABLE")
    func fullDuplexRefusal() async throws {
        try await withInteropServer { client in
            let call = try await Service(client).fullDuplexCall()
            try await call.send(Requests.streaming(sizes: [1], type: .unrecognized(2)))
            call.closeSend()
            let error = await rpcError { for try await _ in call.responses {} }
            #expect(error?.code == .invalidArgument)
        }
    }

    @Test("HalfDuplexCall answers only after the half-close, every request in order, echoing metadata")
    func halfDuplex() async throws {
        enum Event: Equatable, Sendable {
            case halfClose
            case answerAfter(Duration)
        }
        let events = Log<Event>()
        let service = InteropTestService(sleep: { events.append(.answerAfter($0)) })
        try await withInteropServer(service) { client in
            let call = try await Service(client).halfDuplexCall(options: try Requests.echoOptions())
            try await call.send(Requests.streaming(sizes: [1, 2], intervalsUs: [1, 2]))
            try await call.send(Requests.streaming(sizes: [3], intervalsUs: [3]))
            events.append(.halfClose)
            call.closeSend()
            var sizes: [Int] = []
            for try await response in call.responses { sizes.append(response.payload.body.count) }
            #expect(sizes == [1, 2, 3])
            #expect(try await call.responseMetadata.first(InteropEcho.initialMetadataKey) == "hello")
            #expect(call.trailingMetadata?.firstBinary(InteropEcho.trailingMetadataKey) == [1, 2, 3])
        }
        #expect(events.all == [.halfClose, .answerAfter(.microseconds(1)), .answerAfter(.microseconds(2)), .answerAfter(.microseconds(3))])
    }

    @Test("HalfDuplexCall answers the requests before one asking for a status, then ends with it")
    func halfDuplexStatus() async throws {
        try await withInteropServer { client in
            let call = try await Service(client).halfDuplexCall()
            try await call.send(Requests.streaming(sizes: [1]))
            var failing = Requests.streaming(sizes: [2])
            failing.responseStatus = Requests.echoStatus(code: .dataLoss, message: "lost")
            try await call.send(failing)
            try await call.send(Requests.streaming(sizes: [3]))
            call.closeSend()
            var sizes: [Int] = []
            let error = await rpcError {
                for try await response in call.responses { sizes.append(response.payload.body.count) }
            }
            #expect(sizes == [1])
            #expect(error?.code == .dataLoss)
            #expect(error?.message == "lost")
        }
    }
}
