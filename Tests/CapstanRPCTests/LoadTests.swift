import CapstanRPC
import Testing

@Suite("Load", .timeLimit(.minutes(1)))
struct LoadTests {
    @Test("1,000 concurrent unary calls all complete correctly")
    func concurrentCalls() async throws {
        let count = 1_000
        try await withServer(routes: Echo.register) { client, _ in
            let answered = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<count {
                    group.addTask {
                        try await client.unary(Echo.get, Text("\(index)"), options: .default).value == "echo: \(index)"
                    }
                }
                var correct = 0
                for try await ok in group where ok { correct += 1 }
                return correct
            }
            #expect(answered == count)
        }
    }

    @Test("100 concurrent bidirectional calls each keep their own order")
    func concurrentStreams() async throws {
        try await withServer(bufferSize: 2, routes: Echo.register) { client, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for call in 0..<100 {
                    group.addTask {
                        let chat = try await client.bidirectional(Echo.chat, options: .default)
                        async let replies: [String] = chat.responses.reduce(into: []) { $0.append($1.value) }
                        for index in 0..<20 { try await chat.send(Text("\(call)-\(index)")) }
                        chat.closeSend()
                        #expect(try await replies == (0..<20).map { "echo: \(call)-\($0)" })
                    }
                }
                try await group.waitForAll()
            }
        }
    }
}
