@testable import CapstanRPC
import Testing

@Suite("BoundedChannel", .timeLimit(.minutes(1)))
struct BoundedChannelTests {
    @Test("a full channel suspends the sender until a receiver takes an element")
    func backPressure() async throws {
        let channel = BoundedChannel<Int>(capacity: 2)
        try await channel.send(1)
        try await channel.send(2)
        let sent = Flag()
        let sender = Task {
            try await channel.send(3)
            sent.set()
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(!sent.isSet)
        #expect(channel.bufferedCount == 2)
        #expect(try await channel.next() == 1)
        try await sender.value
        #expect(sent.isSet)
        #expect(channel.bufferedCount == 2)
    }

    @Test("finish delivers what is buffered, then the end; senders then fail")
    func finish() async throws {
        let channel = BoundedChannel<Int>(capacity: 4)
        try await channel.send(1)
        channel.finish(last: 2)
        #expect(try await channel.next() == 1)
        #expect(try await channel.next() == 2)
        #expect(try await channel.next() == nil)
        await #expect(throws: RPCError.self) { try await channel.send(3) }
    }

    @Test("fail drops the buffer and wakes waiters with the error")
    func fail() async throws {
        let channel = BoundedChannel<Int>(capacity: 1)
        try await channel.send(1)
        let blocked = Task { try await channel.send(2) }
        try await Task.sleep(for: .milliseconds(20))
        channel.fail(RPCError(code: .cancelled, message: "reset"))
        await #expect(throws: RPCError.self) { try await blocked.value }
        await #expect(throws: RPCError.self) { try await channel.next() }
    }

    @Test("cancelling a waiting receiver or sender ends its wait")
    func cancellation() async throws {
        let channel = BoundedChannel<Int>(capacity: 1)
        let receiver = Task { try await channel.next() }
        try await Task.sleep(for: .milliseconds(20))
        receiver.cancel()
        await #expect(throws: CancellationError.self) { try await receiver.value }

        try await channel.send(1)
        let sender = Task { try await channel.send(2) }
        try await Task.sleep(for: .milliseconds(20))
        sender.cancel()
        await #expect(throws: CancellationError.self) { try await sender.value }
        #expect(try await channel.next() == 1)
        #expect(channel.bufferedCount == 0)
    }
}
