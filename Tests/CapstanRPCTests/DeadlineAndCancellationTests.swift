import CapstanRPC
import CapstanTestSupport
import Testing

@Suite("Deadlines and cancellation", .timeLimit(.minutes(1)))
struct DeadlineAndCancellationTests {
    static let hang = MethodDescriptor<Text, Text>(service: "capstan.test.Slow", method: "Hang", kind: .unary)
    static let flood = MethodDescriptor<Text, Text>(service: "capstan.test.Slow", method: "Flood", kind: .serverStreaming)

    /// Routes whose handlers wait until cancelled and report it.
    static func routes(started: Flag, cancelled: Flag, contextCancelled: Flag, written: Counter) -> (inout RPCRouter) -> Void {
        { router in
            router.unary(hang) { _, context in
                started.set()
                do {
                    try await Task.sleep(for: .seconds(30))
                } catch {
                    cancelled.set()
                    if context.isCancelled { contextCancelled.set() }
                    throw error
                }
                return Text("too late")
            }
            router.serverStreaming(flood) { _, responses, _ in
                started.set()
                do {
                    for index in 0..<10_000 {
                        try await responses.write(Text("\(index)"))
                        written.increment()
                    }
                } catch {
                    cancelled.set()
                    throw error
                }
            }
        }
    }

    /// Deadlines of successive attempts. A handler must have started before its deadline passes
    /// for the test to see it cancelled, and on two busy cores a task's start can be delayed by
    /// seconds; an attempt whose handler never started is repeated with a longer deadline (the
    /// DEADLINE_EXCEEDED answer is checked on every attempt).
    static let attemptDeadlines: [Duration] = [.seconds(2), .seconds(4), .seconds(8)]

    @Test("a passed deadline ends the call with DEADLINE_EXCEEDED and cancels the handler")
    func deadline() async throws {
        let sawHandlerCancelled = Flag()
        for timeout in Self.attemptDeadlines where !sawHandlerCancelled.isSet {
            let (started, cancelled, contextCancelled) = (Flag(), Flag(), Flag())
            let routes = Self.routes(started: started, cancelled: cancelled, contextCancelled: contextCancelled, written: Counter())
            try await withServer(routes: routes) { client, _ in
                let start = ContinuousClock.now
                let error = await rpcError {
                    _ = try await client.unary(Self.hang, "x", options: CallOptions(timeout: timeout))
                }
                #expect(error?.code == .deadlineExceeded)
                #expect(ContinuousClock.now - start < timeout + .seconds(13))
                guard started.isSet else { return }
                #expect(await eventually { cancelled.isSet })
                #expect(contextCancelled.isSet)
                sawHandlerCancelled.set()
            }
        }
        #expect(sawHandlerCancelled.isSet, "the handler never started before its deadline in any attempt")
    }

    @Test("the server enforces the deadline on its own")
    func serverDeadline() async throws {
        let sawHandlerCancelled = Flag()
        for timeout in Self.attemptDeadlines where !sawHandlerCancelled.isSet {
            let (started, cancelled, contextCancelled) = (Flag(), Flag(), Flag())
            let routes = Self.routes(started: started, cancelled: cancelled, contextCancelled: contextCancelled, written: Counter())
            try await withServer(routes: routes) { _, transport in
                // Below the core's client: only the server knows the deadline.
                let stream = try await transport.client.openStream(
                    path: Self.hang.path,
                    metadata: Metadata(),
                    deadline: .now.advanced(by: timeout)
                )
                try await stream.writer.writeMessage(Array("x".utf8))
                stream.writer.closeSend()
                var parts: [ClientResponsePart] = []
                for try await part in stream.responses { parts.append(part) }
                guard case .status(let status, _, _)? = parts.last else {
                    Issue.record("no status in \(parts)")
                    return
                }
                #expect(status.code == .deadlineExceeded)
                guard started.isSet else { return }
                #expect(await eventually { cancelled.isSet })
                sawHandlerCancelled.set()
            }
        }
        #expect(sawHandlerCancelled.isSet, "the handler never started before its deadline in any attempt")
    }

    @Test("cancelling the client's task cancels the handler")
    func clientCancellation() async throws {
        let (started, cancelled, contextCancelled) = (Flag(), Flag(), Flag())
        let routes = Self.routes(started: started, cancelled: cancelled, contextCancelled: contextCancelled, written: Counter())
        try await withServer(routes: routes) { client, _ in
            let call = Task { try await client.unary(Self.hang, "x", options: .default) }
            #expect(await eventually { started.isSet })
            call.cancel()
            let error = await rpcError { _ = try await call.value }
            #expect(error?.code == .cancelled)
            #expect(await eventually { cancelled.isSet })
            #expect(contextCancelled.isSet)
        }
    }

    @Test("dropping a streaming call cancels the handler")
    func droppedCall() async throws {
        let (started, cancelled, written) = (Flag(), Flag(), Counter())
        let routes = Self.routes(started: started, cancelled: cancelled, contextCancelled: Flag(), written: written)
        try await withServer(bufferSize: 4, routes: routes) { client, _ in
            do {
                let call = try await client.serverStreaming(Self.flood, "", options: .default)
                var received = 0
                for try await _ in call {
                    received += 1
                    if received == 3 { break }
                }
            }
            #expect(await eventually { cancelled.isSet })
            #expect(written.current < 20)
        }
    }

    @Test("cancel() on a call object cancels the handler")
    func explicitCancel() async throws {
        let (started, cancelled) = (Flag(), Flag())
        let routes = Self.routes(started: started, cancelled: cancelled, contextCancelled: Flag(), written: Counter())
        try await withServer(bufferSize: 2, routes: routes) { client, _ in
            let call = try await client.serverStreaming(Self.flood, "", options: .default)
            #expect(await eventually { started.isSet })
            call.cancel()
            let error = await rpcError { for try await _ in call {} }
            #expect(error?.code == .cancelled)
            #expect(await eventually { cancelled.isSet })
        }
    }
}
