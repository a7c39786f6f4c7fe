@testable import CapstanHTTP2
import CapstanRPC
import CapstanTestSupport
import Testing

@Suite("HTTP/2 flow control as back-pressure", .timeLimit(.minutes(3)))
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
            // (Generous: a loaded CI machine ran this part for tens of seconds.)
            let reached = await eventually(timeout: .seconds(60)) { written.value >= floor }
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
        try await Self.withHeldSink(messages: 1_000) { sent, server, client in
            let floor = (server.initialStreamWindowSize + client.outboundBufferSize) / Self.messageSize - 2
            let bound = (server.initialStreamWindowSize + server.inboundBufferSize + client.outboundBufferSize) / Self.messageSize + 3
            // (Generous: a loaded CI machine ran this part for over 10 s once.)
            #expect(await eventually(timeout: .seconds(60)) { sent.value >= floor })
            #expect(sent.value <= bound)
        }
    }

    /// A writer off the loop hands a message over without waiting while little is in transit; what
    /// the stream already queues must count too, or a writer that lets the loop catch up between
    /// messages is never held back.
    @Test("a client writer that pauses between messages is held back too")
    func pausingClientWriter() async throws {
        // Each pause lets the loop take the message over: nothing stays in transit.
        try await Self.withHeldSink(messages: 400, pause: .milliseconds(1)) { sent, server, client in
            let bound = (server.initialStreamWindowSize + server.inboundBufferSize + 2 * client.outboundBufferSize)
                / Self.messageSize + 3
            // Held back, the writer stops near the bound for good; unchecked, it runs on to 400.
            let overran = await eventually(timeout: .seconds(3)) { sent.value > bound }
            #expect(!overran, "sent \(sent.value) messages while the server read none; bound \(bound)")
        }
    }

    /// Empty messages, 5 bytes each on the wire, still cost a buffer entry and an allocation
    /// each: the inbox must count that, or it buffers ~14 times its size before withholding.
    static let emptyMessages = 600
    /// Answers `emptyMessages` empty messages, then waits at the gate.
    static let empties = MethodDescriptor<Text, Text>(service: "capstan.test.Pressure", method: "Empties", kind: .serverStreaming)
    /// Waits at the gate, then reads every request and answers how many there were.
    static let textSink = MethodDescriptor<Text, Text>(service: "capstan.test.Pressure", method: "TextSink", kind: .clientStreaming)

    @Test("empty response messages a client does not read stop its window after inboundBufferSize / (5 + overhead)")
    func emptyMessagesToASlowClient() async throws {
        let gate = Gate()
        var client = HTTP2ClientTransport.Configuration()
        client.inboundBufferSize = 16 * 1024
        // Counted as 5 bytes each, 600 messages (3,000 bytes) would fit four times over.
        #expect(Self.emptyMessages * GRPCFraming.prefixLength < client.inboundBufferSize / 4)
        #expect(Self.emptyMessages * StreamInbox.charge(forMessageOfSize: 0) > client.inboundBufferSize)
        try await withHTTP2Server(client: client, routes: { router in
            router.serverStreaming(Self.empties) { _, responses, _ in
                for _ in 0..<Self.emptyMessages { try await responses.write(Text("")) }
                await gate.wait()
            }
        }) { harness in
            let stream = try await harness.clientTransport.openStream(path: Self.empties.path, metadata: Metadata(), deadline: nil)
            try await stream.writer.writeMessage(Text("go").serializedBytes())
            stream.writer.closeSend()
            let inbox = try #require(stream.responses as? StreamInbox)
            // The response headers and every message arrived; nothing was read.
            #expect(await eventually { inbox.bufferState.elements == Self.emptyMessages + 1 })
            #expect(inbox.bufferState.creditWithheld, "the client returned window with \(Self.emptyMessages) empty messages buffered")
            gate.open()
            var messages = 0
            var status: RPCStatus?
            for try await part in stream.responses {
                switch part {
                case .message: messages += 1
                case .status(let ended, _, _): status = ended
                case .headers: break
                }
            }
            #expect(messages == Self.emptyMessages)
            #expect(status?.code == .ok)
        }
    }

    @Test("empty request messages a handler does not read stop its window after inboundBufferSize / (5 + overhead)")
    func emptyMessagesToASlowHandler() async throws {
        let gate = Gate()
        var server = HTTP2ServerTransport.Configuration()
        server.inboundBufferSize = 16 * 1024
        #expect(Self.emptyMessages * GRPCFraming.prefixLength < server.inboundBufferSize / 4)
        #expect(Self.emptyMessages * StreamInbox.charge(forMessageOfSize: 0) > server.inboundBufferSize)
        try await withHTTP2Server(server: server, routes: { router in
            router.clientStreaming(Self.textSink) { requests, _ in
                await gate.wait()
                var count = 0
                for try await _ in requests { count += 1 }
                return Text("\(count)")
            }
        }) { harness in
            let call = try await harness.client.clientStreaming(Self.textSink)
            for _ in 0..<Self.emptyMessages { try await call.send(Text("")) }
            #expect(await eventually { await Self.serverInboxes(harness).count == 1 })
            let inbox = try #require(await Self.serverInboxes(harness).first)
            #expect(await eventually { inbox.bufferState.elements == Self.emptyMessages })
            #expect(inbox.bufferState.creditWithheld, "the server returned window with \(Self.emptyMessages) empty messages buffered")
            gate.open()
            #expect(try await call.finish().value == "\(Self.emptyMessages)")
        }
    }

    /// The request inboxes of the server's open streams.
    static func serverInboxes(_ harness: HTTP2Harness) async -> [StreamInbox] {
        var inboxes: [StreamInbox] = []
        for connection in harness.server.openConnections {
            inboxes += await withCheckedContinuation { (continuation: CheckedContinuation<[StreamInbox], Never>) in
                connection.loop.execute { continuation.resume(returning: connection.openInboxes) }
            }
        }
        return inboxes
    }

    /// A `sink` handler that waits at a gate before reading, and a client task sending it `messages`
    /// messages (pausing `pause` after each). `body` sees how many were sent so far while the handler
    /// waits; then the gate opens and the call must finish with every message read.
    static func withHeldSink(
        messages: Int, pause: Duration? = nil,
        _ body: @Sendable (_ sent: Counter, _ server: HTTP2ServerTransport.Configuration,
            _ client: HTTP2ClientTransport.Configuration) async throws -> Void
    ) async throws {
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
                for _ in 0..<messages {
                    try await call.send(Blob(count: Self.messageSize))
                    sent.increment()
                    if let pause { try await Task.sleep(for: pause) }
                }
            }
            try await body(sent, server, client)
            gate.open()
            try await sender.value
            #expect(try await call.finish().value == "\(messages)")
        }
    }
}
