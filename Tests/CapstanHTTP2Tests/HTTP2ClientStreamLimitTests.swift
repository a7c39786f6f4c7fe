@testable import CapstanHTTP2
import CapstanRPC
import CapstanTestSupport
import Testing

@Suite("HTTP/2 client: the server's stream limit", .timeLimit(.minutes(1)))
struct HTTP2ClientStreamLimitTests {
    /// Answers "first", then waits at the gate (a watch that stays open).
    static let watch = MethodDescriptor<Text, Text>(service: "capstan.test.Limit", method: "Watch", kind: .serverStreaming)

    /// Calls made while a connection is set up all reserve it; nghttp2 would hold back those past
    /// the limit the server then announces until others end, which long-lived calls never do.
    @Test("more long-lived calls than the server's limit, made while connecting, all start (on further connections)")
    func callsPastTheLimitWhileConnecting() async throws {
        let limit = 2
        let calls = 5
        var server = HTTP2ServerTransport.Configuration()
        server.maxConcurrentStreams = limit
        let serving = Gate()
        let gate = Gate()
        try await withHTTP2Server(serving: serving, server: server, routes: { router in
            router.serverStreaming(Self.watch) { _, responses, _ in
                try await responses.write(Text("first"))
                await gate.wait()
            }
        }) { harness in
            let started = Counter()
            let client = harness.client
            let tasks = (0..<calls).map { _ in
                Task {
                    let call = try await client.serverStreaming(Self.watch, "x")
                    var iterator = call.makeAsyncIterator()
                    let first = try await iterator.next()
                    started.increment()
                    while try await iterator.next() != nil {}
                    return first?.value
                }
            }
            // Every call reserved the one connection before the server said anything.
            #expect(await eventually { harness.clientTransport.streamCounts.reserved == calls })
            #expect(harness.clientTransport.connectionCount == 1)
            serving.open()
            let allStarted = await eventually(timeout: .seconds(20)) { started.value == calls }
            #expect(allStarted, "\(started.value) of \(calls) calls started")
            #expect(harness.clientTransport.connectionCount == (calls + limit - 1) / limit)
            #expect(harness.clientTransport.streamCounts == (reserved: calls, admitted: calls))
            gate.open()
            for task in tasks {
                let first = try await task.value
                #expect(first == "first")
            }
            #expect(await eventually { harness.clientTransport.streamCounts == (reserved: 0, admitted: 0) })
        }
    }
}
