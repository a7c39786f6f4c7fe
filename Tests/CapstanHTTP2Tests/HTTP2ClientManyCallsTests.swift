import CapstanHTTP2
import CapstanRPC
import Testing

@Suite("HTTP/2 client: many calls on one connection", .timeLimit(.minutes(2)))
struct HTTP2ClientManyCallsTests {
    /// nghttp2 servers end a connection that receives more than ~1000 RST_STREAMs in a burst
    /// (their rapid-reset limit: GOAWAY INTERNAL_ERROR). A client that reset every finished call
    /// lost its connection, and a call with it, after about a thousand calls.
    @Test("2000 unary calls in a row all succeed on one connection (finished calls are not reset)")
    func manyCalls() async throws {
        try await withHTTP2Server { harness in
            var failures: [String] = []
            for index in 0..<2000 {
                do {
                    let reply = try await harness.client.unary(Echo.get, Text("\(index)"))
                    if reply.value != "echo: \(index)" { failures.append("\(index): \(reply.value)") }
                } catch {
                    failures.append("\(index): \(error)")
                }
            }
            #expect(failures == [])
            #expect(harness.clientTransport.connectionCount == 1)
        }
    }
}
