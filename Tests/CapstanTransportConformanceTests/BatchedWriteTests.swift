import CapstanAPI
import CapstanHTTP2
import CapstanRPC
import Synchronization
import Testing

/// `ResponseStream.write(contentsOf:)` over every transport: batches keep their order, a client
/// that does not read holds the writer (HTTP/2 flow control, the in-process buffer), and a
/// client that goes away mid-batch fails the handler's next write.
@Suite(.timeLimit(.minutes(2))) struct BatchedWriteTests {
    /// Writes `Stream.batches` batches of `batchSize` messages named by their index, counting
    /// those written; the request's `name` says how large each message is.
    static let stream = MethodDescriptor<ObjectMeta, ObjectMeta>(service: "capstan.test.Batches", method: "Stream", kind: .serverStreaming)
    static let batchSize = 32
    static let batches = 100
    static let messageSize = 8 * 1024

    /// Routes `stream`, recording in `progress` what the handler did.
    static func routes(_ progress: Progress) -> RPCRouter {
        var router = RPCRouter()
        router.serverStreaming(Self.stream) { request, responses, _ in
            let padding = String(repeating: "x", count: Int(request.name) ?? 0)
            do {
                for batch in 0..<Self.batches {
                    // Batch sizes vary (1, 2, …, batchSize) so framing meets every boundary.
                    let size = batch < Self.batchSize ? batch + 1 : Self.batchSize
                    let first = progress.written.load(ordering: .relaxed)
                    let messages = (first..<first + size).map { index in
                        var meta = ObjectMeta()
                        meta.name = String(index)
                        meta.annotations["pad"] = padding
                        return meta
                    }
                    try await responses.write(contentsOf: messages)
                    progress.written.add(size, ordering: .relaxed)
                }
            } catch {
                progress.failed.set()
                throw error
            }
            progress.finished.set()
        }
        return router
    }

    /// Messages the handler writes in all.
    static var total: Int { (1...Self.batchSize).reduce(0, +) + (Self.batches - Self.batchSize) * Self.batchSize }

    @Test(arguments: TransportConformanceTests.Transport.allCases)
    func batchesArriveWholeAndInOrder(_ transport: TransportConformanceTests.Transport) async throws {
        let progress = Progress()
        try await withTransport(transport, router: Self.routes(progress)) { client in
            var request = ObjectMeta()
            request.name = "100"
            let call = try await client.serverStreaming(Self.stream, request)
            var next = 0
            for try await meta in call {
                #expect(meta.name == String(next))
                #expect(meta.annotations["pad"]?.count == 100)
                next += 1
            }
            #expect(next == Self.total)
            #expect(progress.finished.isSet)
        }
    }

    @Test(arguments: TransportConformanceTests.Transport.allCases)
    func aClientThatDoesNotReadHoldsTheBatchWriter(_ transport: TransportConformanceTests.Transport) async throws {
        let progress = Progress()
        try await withTransport(transport, router: Self.routes(progress)) { client in
            var request = ObjectMeta()
            request.name = String(Self.messageSize)
            let call = try await client.serverStreaming(Self.stream, request)
            // Nothing is read yet. The writer gets as far as the buffers allow, then waits.
            let bound: Int
            switch transport {
            case .inProcess:
                // The stream's buffer (16 parts: headers and messages), one batch queued past it.
                bound = 16 + Self.batchSize + 2
            case .http2:
                // The client's stream window and inbound buffer, the server's outbound queue,
                // plus the batch that took the queue over its mark.
                let client = HTTP2ClientTransport.Configuration()
                let server = HTTP2ServerTransport.Configuration()
                let bytes = client.initialStreamWindowSize + client.inboundBufferSize + server.outboundBufferSize
                bound = bytes / Self.messageSize + Self.batchSize + 3
            }
            #expect(bound < Self.total)
            #expect(await eventually { progress.written.load(ordering: .relaxed) > 0 })
            #expect(await settles { progress.written.load(ordering: .relaxed) })
            let held = progress.written.load(ordering: .relaxed)
            #expect(held <= bound, "written \(held) of at most \(bound)")
            #expect(!progress.finished.isSet)
            // Reading lets it finish, in order.
            var next = 0
            for try await meta in call {
                #expect(meta.name == String(next))
                next += 1
            }
            #expect(next == Self.total)
            #expect(progress.finished.isSet)
        }
    }

    @Test(arguments: TransportConformanceTests.Transport.allCases)
    func aClientThatCancelsMidStreamFailsTheBatchWriter(_ transport: TransportConformanceTests.Transport) async throws {
        let progress = Progress()
        try await withTransport(transport, router: Self.routes(progress)) { client in
            var request = ObjectMeta()
            request.name = String(Self.messageSize)
            let call = try await client.serverStreaming(Self.stream, request)
            var received = 0
            for try await meta in call {
                #expect(meta.name == String(received))
                received += 1
                if received == Self.batchSize + 5 { break }
            }
            call.cancel()
            // The handler, parked in or between batched writes, fails instead of finishing.
            #expect(await eventually { progress.failed.isSet })
            #expect(!progress.finished.isSet)
            #expect(progress.written.load(ordering: .relaxed) < Self.total)
        }
    }
}

/// What the batch handler did.
final class Progress: Sendable {
    let written = Atomic<Int>(0)
    let failed = Flag()
    let finished = Flag()
}

/// Waits (at most `timeout`) until `value` stays the same for 300 ms.
func settles(timeout: Duration = .seconds(10), _ value: () -> Int) async -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    var last = value()
    var since = ContinuousClock.now
    while ContinuousClock.now < deadline {
        try? await Task.sleep(for: .milliseconds(20))
        let now = value()
        if now != last {
            last = now
            since = ContinuousClock.now
        } else if ContinuousClock.now - since >= .milliseconds(300) {
            return true
        }
    }
    return false
}
