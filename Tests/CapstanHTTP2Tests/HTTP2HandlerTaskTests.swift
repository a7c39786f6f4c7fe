@testable import CapstanHTTP2
import CapstanRPC
import CapstanTestSupport
import Testing

/// Handler tasks are reused from call to call, and deadlines live on the loops' deadline queues.
@Suite("HTTP/2 handler tasks and deadline queue", .timeLimit(.minutes(1)))
struct HTTP2HandlerTaskTests {
    /// Answers whether its task was already cancelled when the handler started.
    static let probe = MethodDescriptor<Text, Text>(service: "capstan.test.Tasks", method: "Probe", kind: .unary)
    /// Waits until cancelled.
    static let hang = MethodDescriptor<Text, Text>(service: "capstan.test.Tasks", method: "Hang", kind: .unary)

    static func routes(started: Gate, cancelled: Gate) -> (inout RPCRouter) -> Void {
        { router in
            Echo.register(in: &router)
            router.unary(probe) { _, context in
                Text("task cancelled: \(Task.isCancelled), call cancelled: \(context.isCancelled)")
            }
            router.unary(hang) { _, _ in
                started.open()
                await withTaskCancellationHandler {
                    try? await Task.sleep(for: .seconds(60))
                } onCancel: {
                    cancelled.open()
                }
                throw CancellationError()
            }
        }
    }

    @Test("calls one after another reuse a parked handler task, and calls that meet their deadline leave none armed")
    func reuseAndDisarm() async throws {
        try await withHTTP2Server(routes: Self.routes(started: Gate(), cancelled: Gate())) { harness in
            for index in 0..<30 {
                let answer = try await harness.client.unary(Echo.get, Text("\(index)"), options: CallOptions(timeout: .seconds(30)))
                #expect(answer.value == "echo: \(index)")
            }
            // Sequential calls need one task at a time: each parks after its call and takes the next.
            let (idle, armed) = await harness.server.handlerTaskDiagnostics()
            #expect(idle >= 1 && idle <= 2, "idle handler tasks: \(idle)")
            #expect(armed == 0, "armed deadlines: \(armed)")
        }
    }

    @Test("a handler cancelled by a reset or a deadline does not leave later calls cancelled")
    func cancelledTaskIsNotReused() async throws {
        let (started, cancelled) = (Gate(), Gate())
        try await withHTTP2Server(routes: Self.routes(started: started, cancelled: cancelled)) { harness in
            let call = Task { try await harness.client.unary(Self.hang, "x") }
            await started.wait()
            call.cancel()
            #expect(await rpcError { _ = try await call.value }?.code == .cancelled)
            await cancelled.wait()
            let expired = await rpcError {
                _ = try await harness.client.unary(Self.hang, "y", options: CallOptions(timeout: .milliseconds(300)))
            }
            #expect(expired?.code == .deadlineExceeded)
            #expect(await eventually { harness.server.activeHandlerCount == 0 })
            for _ in 0..<20 {
                let answer = try await harness.client.unary(Self.probe, "")
                #expect(answer.value == "task cancelled: false, call cancelled: false")
            }
            #expect(await harness.server.handlerTaskDiagnostics().armedDeadlines == 0)
        }
    }
}
