@testable import CapstanHTTP2
import CapstanRPC
import CapstanTestSupport
import Testing

@Suite("HTTP/2 deadlines and cancellation", .timeLimit(.minutes(1)))
struct HTTP2DeadlineAndCancellationTests {
    /// Waits until cancelled, recording what it saw.
    static let hang = MethodDescriptor<Text, Text>(service: "capstan.test.Slow", method: "Hang", kind: .unary)
    /// Streams until cancelled.
    static let forever = MethodDescriptor<Text, Text>(service: "capstan.test.Slow", method: "Forever", kind: .serverStreaming)
    /// Reads requests until cancelled.
    static let drain = MethodDescriptor<Text, Text>(service: "capstan.test.Slow", method: "Drain", kind: .bidirectional)

    final class Observations: Sendable {
        let started = Gate()
        let cancelled = Gate()
        let deadlineSeen = Locked<Duration?>(nil)
    }

    static func routes(_ observations: Observations) -> (inout RPCRouter) -> Void {
        { router in
            Echo.register(in: &router)
            router.unary(hang) { _, context in
                observations.deadlineSeen.withLock { $0 = context.deadline.map { ContinuousClock.now.duration(to: $0) } }
                observations.started.open()
                await withTaskCancellationHandler {
                    try? await Task.sleep(for: .seconds(60))
                } onCancel: {
                    observations.cancelled.open()
                }
                throw CancellationError()
            }
            router.serverStreaming(forever) { _, responses, _ in
                observations.started.open()
                do {
                    for index in 0..<1_000_000 {
                        try await responses.write(Text("\(index)"))
                        try await Task.sleep(for: .milliseconds(1))
                    }
                } catch {
                    observations.cancelled.open()
                    throw error
                }
            }
            router.bidirectional(drain) { requests, _, _ in
                observations.started.open()
                do {
                    for try await _ in requests {}
                } catch {
                    observations.cancelled.open()
                    throw error
                }
            }
        }
    }

    // 2 s, not less: the handler must start before the deadline passes, and two busy cores can
    // delay a call by hundreds of milliseconds.
    @Test("a deadline travels as grpc-timeout and expires with DEADLINE_EXCEEDED; the handler is cancelled")
    func deadlineExpires() async throws {
        let observations = Observations()
        try await withHTTP2Server(routes: Self.routes(observations)) { harness in
            let error = await rpcError {
                _ = try await harness.client.unary(Self.hang, "x", options: CallOptions(timeout: .seconds(2)))
            }
            #expect(error?.code == .deadlineExceeded)
            // On a very slow machine the deadline may pass before the handler starts (then it
            // never runs); if it ran, it saw the deadline and was cancelled.
            #expect(await eventually { harness.server.activeHandlerCount == 0 })
            if observations.started.isOpen {
                #expect(observations.cancelled.isOpen)
                let seen = try #require(observations.deadlineSeen.value)
                #expect(seen > .zero && seen <= .seconds(2))
            }
            // The connection is fine afterwards.
            #expect(try await harness.client.unary(Echo.get, "after").value == "echo: after")
        }
    }

    @Test("the transport ends a stream whose deadline passed with DEADLINE_EXCEEDED; later writes fail")
    func transportEnforcesTheDeadline() async throws {
        let observations = Observations()
        try await withHTTP2Server(routes: Self.routes(observations)) { harness in
            // Connected first, so the deadline below is spent on the call, not on connecting (which
            // takes seconds when the machine is loaded).
            #expect(try await harness.client.unary(Echo.get, "warm").value == "echo: warm")
            let deadline = ContinuousClock.now + .seconds(2)
            let stream = try await harness.clientTransport.openStream(path: Self.hang.path, metadata: Metadata(), deadline: deadline)
            #expect(stream.enforcesDeadline)
            try await stream.writer.writeMessage(Text("x").serializedBytes())
            stream.writer.closeSend()
            var status: RPCStatus?
            for try await part in stream.responses {
                if case .status(let ended, _, _) = part { status = ended }
            }
            #expect(status?.code == .deadlineExceeded)
            #expect(ContinuousClock.now >= deadline)
            // Writing after the deadline fails: the stream is over.
            await #expect(throws: (any Error).self) { try await stream.writer.writeMessage(Text("late").serializedBytes()) }
            #expect(await eventually { harness.server.activeHandlerCount == 0 })
        }
    }

    /// Cancelled `TimerHeap` entries stay until they come up; a client deadline must not use one,
    /// or every finished call would hold its entry (and closure) for as long as its deadline.
    @Test("finished calls with long deadlines leave nothing queued on the loops")
    func finishedCallsLeaveNoDeadlines() async throws {
        try await withHTTP2Server { harness in
            #expect(try await harness.client.unary(Echo.get, "warm").value == "echo: warm")
            // A live timer on every loop: a heap whose live timers were all cancelled empties at
            // once, which would hide stale entries.
            let keep = harness.group.loops.map { $0.scheduleTimer(after: .seconds(3600)) {} }
            defer { for timer in keep { timer.cancel() } }
            let before = await Self.queued(on: harness.group)
            let calls = 200
            for index in 0..<calls {
                let reply = try await harness.client.unary(Echo.get, Text("\(index)"), options: CallOptions(timeout: .seconds(3600)))
                #expect(reply.value == "echo: \(index)")
            }
            let after = await Self.queued(on: harness.group)
            #expect(after.deadlines == 0)
            // A few entries may come and go (connection timers); one per call must not stay.
            #expect(after.timerEntries <= before.timerEntries + 10, "before \(before), after \(after)")
        }
    }

    /// Deadlines armed and timer heap entries (cancelled ones included) over all loops.
    static func queued(on group: EventLoopGroup) async -> (deadlines: Int, timerEntries: Int) {
        var total = (deadlines: 0, timerEntries: 0)
        for loop in group.loops {
            let counts = await withCheckedContinuation { (continuation: CheckedContinuation<(Int, Int), Never>) in
                loop.execute { continuation.resume(returning: (loop.armedDeadlineCount, loop.timerEntryCount)) }
            }
            total.deadlines += counts.0
            total.timerEntries += counts.1
        }
        return total
    }

    @Test("an already expired deadline fails without a call")
    func expiredDeadline() async throws {
        try await withHTTP2Server { harness in
            let error = await rpcError {
                _ = try await harness.client.unary(Echo.get, "x", options: CallOptions(timeout: .zero))
            }
            #expect(error?.code == .deadlineExceeded)
        }
    }

    @Test("the client cancelling a unary call resets the stream and cancels the handler")
    func cancelUnary() async throws {
        let observations = Observations()
        try await withHTTP2Server(routes: Self.routes(observations)) { harness in
            let call = Task { try await harness.client.unary(Self.hang, "x") }
            await observations.started.wait()
            call.cancel()
            let error = await rpcError { _ = try await call.value }
            #expect(error?.code == .cancelled)
            await observations.cancelled.wait()
            #expect(await eventually { harness.server.activeHandlerCount == 0 })
        }
    }

    @Test("a peer reset mid-stream cancels a streaming handler")
    func resetMidStream() async throws {
        let observations = Observations()
        try await withHTTP2Server(routes: Self.routes(observations)) { harness in
            let call = try await harness.client.serverStreaming(Self.forever, "go")
            var iterator = call.makeAsyncIterator()
            for _ in 0..<5 { _ = try await iterator.next() }
            call.cancel()
            await observations.cancelled.wait()
            let error = await rpcError { while try await iterator.next() != nil {} }
            #expect(error?.code == .cancelled)
            #expect(await eventually { harness.server.activeHandlerCount == 0 })
        }
    }

    @Test("a client-streaming reader is cancelled when the client resets")
    func resetWhileReading() async throws {
        let observations = Observations()
        try await withHTTP2Server(routes: Self.routes(observations)) { harness in
            let call = try await harness.client.bidirectional(Self.drain)
            try await call.send("one")
            await observations.started.wait()
            call.cancel()
            await observations.cancelled.wait()
            #expect(await eventually { harness.server.activeHandlerCount == 0 })
        }
    }

    @Test("losing the connection cancels the handlers and fails the calls with UNAVAILABLE")
    func connectionLoss() async throws {
        let observations = Observations()
        try await withHTTP2Server(routes: Self.routes(observations)) { harness in
            let transport = try harness.makeClientTransport()
            let call = Task { try await RPCClient(transport: transport).unary(Self.hang, "x") }
            await observations.started.wait()
            // Cut every server connection abruptly.
            for connection in harness.server.openConnections {
                connection.loop.execute { connection.close(HTTP2TransportError(.connectionClosed, "test cut")) }
            }
            await observations.cancelled.wait()
            let error = await rpcError { _ = try await call.value }
            #expect(error?.code == .unavailable)
            await transport.close()
        }
    }
}
