@testable import CapstanHTTP2
import CapstanRPC
import Testing

@Suite("HTTP/2 flow control as back-pressure", .timeLimit(.minutes(1)))
struct HTTP2BackPressureTests {
    static let messageSize = 16 * 1024
    /// Writes up to 2,000 messages of 16 KiB as fast as the transport takes them.
    static let flood = MethodDescriptor<Text, Blob>(service: "capstan.test.Pressure", method: "Flood", kind: .serverStreaming)
    /// Waits at the gate, then reads every request and answers how many there were.
    static let sink = MethodDescriptor<Blob, Text>(service: "capstan.test.Pressure", method: "Sink", kind: .clientStreaming)

    @Test("a client that does not read holds the server's writer; the server queues a bounded amount")
    func slowClientReader() async throws {
        let written = Counter()
        let server = HTTP2ServerTransport.Configuration()
        let client = HTTP2ClientTransport.Configuration()
        try await withHTTP2Server(server: server, client: client, routes: { router in
            router.serverStreaming(Self.flood) { _, responses, _ in
                for _ in 0..<2_000 {
                    try await responses.write(Blob(count: Self.messageSize))
                    written.increment()
                }
            }
        }) { harness in
            let call = try await harness.client.serverStreaming(Self.flood, "go")
            // Nothing is read. The server gets as far as the client's stream window and its own
            // queue allow; the client's inbox takes its share of the window, and could at most
            // return its own size once more (plus one message in each place).
            let floor = (client.initialStreamWindowSize + server.outboundBufferSize) / Self.messageSize - 2
            let bound = (client.initialStreamWindowSize + client.inboundBufferSize + server.outboundBufferSize) / Self.messageSize + 3
            let reached = await eventually { written.value >= floor }
            #expect(reached, "written \(written.value) of bound \(bound)")
            #expect(written.value <= bound)
            let queued = await harness.server.outboundHighWaterMark()
            #expect(queued <= server.outboundBufferSize + Self.messageSize + GRPCFraming.prefixLength)
            #expect(written.value <= bound)
            // Reading everything lets the writer finish.
            var count = 0
            for try await blob in call {
                #expect(blob.bytes.count == Self.messageSize)
                count += 1
            }
            #expect(count == 2_000)
            #expect(await harness.server.outboundHighWaterMark() <= server.outboundBufferSize + Self.messageSize + GRPCFraming.prefixLength)
        }
    }

    @Test("a handler that does not read holds the client's writer")
    func slowServerReader() async throws {
        let gate = Gate()
        let server = HTTP2ServerTransport.Configuration()
        let client = HTTP2ClientTransport.Configuration()
        try await withHTTP2Server(server: server, client: client, routes: { router in
            router.clientStreaming(Self.sink) { requests, _ in
                await gate.wait()
                var count = 0
                for try await _ in requests { count += 1 }
                return Text("\(count)")
            }
        }) { harness in
            let call = try await harness.client.clientStreaming(Self.sink)
            let sent = Counter()
            let sender = Task {
                for _ in 0..<1_000 {
                    try await call.send(Blob(count: Self.messageSize))
                    sent.increment()
                }
            }
            let floor = (server.initialStreamWindowSize + client.outboundBufferSize) / Self.messageSize - 2
            let bound = (server.initialStreamWindowSize + server.inboundBufferSize + client.outboundBufferSize) / Self.messageSize + 3
            #expect(await eventually { sent.value >= floor })
            #expect(sent.value <= bound)
            gate.open()
            try await sender.value
            #expect(try await call.finish().value == "1000")
        }
    }

    /// A writer off the loop hands a message over without waiting while little is in transit; what
    /// the stream already queues must count too, or a writer that lets the loop catch up between
    /// messages is never held back.
    @Test("a client writer that pauses between messages is held back too")
    func pausingClientWriter() async throws {
        let gate = Gate()
        let server = HTTP2ServerTransport.Configuration()
        let client = HTTP2ClientTransport.Configuration()
        try await withHTTP2Server(server: server, client: client, routes: { router in
            router.clientStreaming(Self.sink) { requests, _ in
                await gate.wait()
                var count = 0
                for try await _ in requests { count += 1 }
                return Text("\(count)")
            }
        }) { harness in
            let call = try await harness.client.clientStreaming(Self.sink)
            let sent = Counter()
            let sender = Task {
                for _ in 0..<400 {
                    try await call.send(Blob(count: Self.messageSize))
                    sent.increment()
                    // Lets the loop take the message over: nothing stays in transit.
                    try await Task.sleep(for: .milliseconds(1))
                }
            }
            let bound = (server.initialStreamWindowSize + server.inboundBufferSize + 2 * client.outboundBufferSize)
                / Self.messageSize + 3
            // Held back, the writer stops near the bound for good; unchecked, it runs on to 400.
            let overran = await eventually(timeout: .seconds(3)) { sent.value > bound }
            #expect(!overran, "sent \(sent.value) messages while the server read none; bound \(bound)")
            gate.open()
            try await sender.value
            #expect(try await call.finish().value == "400")
        }
    }
}
