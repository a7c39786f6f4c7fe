@testable import CapstanHTTP2
import Synchronization
import Testing

@Suite("Outbound message queue")
struct StreamOutboundTests {
    /// Drains `outbound` through buffers of `size` bytes, as nghttp2's data provider would.
    private func drain(_ outbound: StreamOutbound, size: Int) -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: size)
        while true {
            let count = buffer.withUnsafeMutableBytes { outbound.fill($0) }
            if count == 0 { break }
            out += buffer[0..<count]
        }
        return out
    }

    private func framed(_ messages: [[UInt8]]) -> [UInt8] {
        var bytes: [UInt8] = []
        for message in messages { GRPCFraming.append(message, to: &bytes) }
        return bytes
    }

    /// The first message (kept apart from the queue) and those queued behind it come out framed,
    /// in order, whatever size the provider's buffer has; so do messages queued mid-drain.
    @Test(arguments: [1, 2, 5, 6, 7, 64])
    func messagesComeOutFramedInOrder(size: Int) {
        let messages: [[UInt8]] = [[1, 2, 3], [], [4], (0..<40).map { UInt8($0) }]
        let outbound = StreamOutbound(highWater: 1 << 20)
        for message in messages { outbound.appendMessage(message) }
        #expect(outbound.queuedBytes == framed(messages).count)
        #expect(drain(outbound, size: size) == framed(messages))
        #expect(outbound.isEmpty)
        #expect(outbound.unsentBytes.load(ordering: .relaxed) == 0)

        // Part of a first message out, then another queued behind it.
        outbound.appendMessage([7, 7, 7, 7])
        var head = [UInt8](repeating: 0, count: 3)
        let taken = head.withUnsafeMutableBytes { outbound.fill($0) }
        #expect(taken == 3)
        outbound.appendMessage([8])
        #expect(Array(head) + drain(outbound, size: size) == framed([[7, 7, 7, 7], [8]]))
    }

    @Test func clearDropsTheFirstMessageToo() {
        let outbound = StreamOutbound(highWater: 1 << 20)
        outbound.appendMessage([1, 2])
        outbound.appendMessage([3])
        outbound.clear()
        #expect(outbound.isEmpty)
        #expect(outbound.unsentBytes.load(ordering: .relaxed) == 0)
        #expect(drain(outbound, size: 16).isEmpty)
    }
}
