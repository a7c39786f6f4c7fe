import CapstanRPC
import CapstanTestSupport
import Testing

@Suite("Back-pressure", .timeLimit(.minutes(1)))
struct BackPressureTests {
    static let bufferSize = 4
    static let total = 200

    @Test("a slow reader holds the server's writer to the buffer bound")
    func serverStreaming() async throws {
        let written = Counter()
        try await withServer(bufferSize: Self.bufferSize, routes: { router in
            router.serverStreaming(Echo.expand) { _, responses, _ in
                for index in 0..<Self.total {
                    try await responses.write(Text("\(index)"))
                    written.increment()
                }
            }
        }) { client, _ in
            let call = try await client.serverStreaming(Echo.expand, "", options: .default)
            // Nobody reads: the writer fills the buffer (the headers take one slot) and stops.
            #expect(await eventually { written.current >= Self.bufferSize - 1 })
            try await Task.sleep(for: .milliseconds(100))
            #expect(written.current <= Self.bufferSize + 1)

            var read = 0
            var widestGap = 0
            for try await message in call {
                #expect(message.value == "\(read)")
                read += 1
                widestGap = max(widestGap, written.current - read)
                if read % 20 == 0 { try await Task.sleep(for: .milliseconds(5)) }
            }
            #expect(read == Self.total)
            #expect(widestGap <= Self.bufferSize + 1)
        }
    }

    @Test("a slow handler holds the client's sender to the buffer bound")
    func clientStreaming() async throws {
        let received = Counter()
        try await withServer(bufferSize: Self.bufferSize, routes: { router in
            router.clientStreaming(Echo.collect) { requests, _ in
                for try await _ in requests {
                    received.increment()
                    try await Task.sleep(for: .milliseconds(1))
                }
                return Text("\(received.current)")
            }
        }) { client, _ in
            let call = try await client.clientStreaming(Echo.collect, options: .default)
            var widestGap = 0
            for index in 0..<Self.total {
                try await call.send(Text("\(index)"))
                widestGap = max(widestGap, index + 1 - received.current)
            }
            #expect(try await call.finish().value == "\(Self.total)")
            #expect(widestGap <= Self.bufferSize + 1)
            #expect(widestGap >= Self.bufferSize)
        }
    }
}
