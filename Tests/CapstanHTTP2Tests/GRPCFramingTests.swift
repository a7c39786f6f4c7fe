@testable import CapstanHTTP2
import CapstanRPC
import Testing

@Suite("gRPC message framing")
struct GRPCFramingTests {
    /// Frames `messages` back to back.
    private func framed(_ messages: [[UInt8]]) -> [UInt8] {
        var buffer: [UInt8] = []
        for message in messages { GRPCFraming.append(message, to: &buffer) }
        return buffer
    }

    /// Appends `chunks` one at a time, draining after each; returns the messages.
    private func deframe(_ chunks: [ArraySlice<UInt8>], limit: Int = 1 << 20) throws -> [[UInt8]] {
        var deframer = GRPCDeframer(maxMessageSize: limit)
        var messages: [[UInt8]] = []
        for chunk in chunks {
            Array(chunk).withUnsafeBytes { deframer.append($0) }
            while let message = try deframer.next() { messages.append(message) }
        }
        try deframer.finish()
        return messages
    }

    private func feed(_ deframer: inout GRPCDeframer, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { deframer.append($0) }
    }

    @Test func prefixIsFlagThenBigEndianLength() {
        #expect(framed([[7, 8, 9]]) == [0, 0, 0, 0, 3, 7, 8, 9])
        #expect(framed([[]]) == [0, 0, 0, 0, 0])
        #expect(Array(framed([[UInt8](repeating: 1, count: 0x01_02_03)]).prefix(5)) == [0, 0, 0x01, 0x02, 0x03])
        #expect(GRPCFraming.prefixLength == 5)
    }

    @Test func roundTripSplitAtEveryByteBoundary() throws {
        let messages: [[UInt8]] = [[], [42], (0..<300).map { UInt8(truncatingIfNeeded: $0) }, [], [1, 2, 3]]
        let bytes = framed(messages)
        for split in 0...bytes.count {
            let chunks = [bytes[..<split], bytes[split...]]
            #expect(try deframe(chunks) == messages, "split at \(split)")
        }
    }

    @Test func roundTripSplitIntoThreeAtEveryPairOfBoundaries() throws {
        let messages: [[UInt8]] = [[9, 9], [], [1, 2, 3, 4, 5, 6, 7]]
        let bytes = framed(messages)
        for first in 0...bytes.count {
            for second in first...bytes.count {
                let chunks = [bytes[..<first], bytes[first..<second], bytes[second...]]
                #expect(try deframe(chunks) == messages, "split at \(first), \(second)")
            }
        }
    }

    @Test func oneByteAtATime() throws {
        let messages: [[UInt8]] = [[1], [], [2, 3]]
        let bytes = framed(messages)
        #expect(try deframe(bytes.indices.map { bytes[$0...$0] }) == messages)
    }

    @Test func severalMessagesInOneChunk() throws {
        var deframer = GRPCDeframer(maxMessageSize: 100)
        feed(&deframer, framed([[1], [2, 2], [3, 3, 3]]) + [0, 0, 0])
        #expect(try deframer.next() == [1])
        #expect(try deframer.next() == [2, 2])
        #expect(try deframer.next() == [3, 3, 3])
        #expect(try deframer.next() == nil)
        #expect(deframer.bufferedByteCount == 3)
    }

    /// A chunk holding exactly one message is kept whole; chunks arriving before it is taken
    /// still come out after it, in order, and a whole message left untaken counts as buffered.
    @Test func wholeMessageChunksKeepTheirOrder() throws {
        var deframer = GRPCDeframer(maxMessageSize: 1 << 20)
        feed(&deframer, framed([[1, 2, 3]]))
        #expect(deframer.bufferedByteCount == 8)
        feed(&deframer, framed([[4]]))
        feed(&deframer, Array(framed([[5, 6]]).prefix(3)))
        #expect(try deframer.next() == [1, 2, 3])
        #expect(try deframer.next() == [4])
        #expect(try deframer.next() == nil)
        feed(&deframer, Array(framed([[5, 6]]).dropFirst(3)))
        #expect(try deframer.next() == [5, 6])
        try deframer.finish()

        var untaken = GRPCDeframer(maxMessageSize: 1 << 20)
        feed(&untaken, framed([[9, 9]]))
        #expect(throws: GRPCDeframingError.truncated(buffered: 7)) { try untaken.finish() }
    }

    /// A whole-chunk message over the limit fails like any other.
    @Test func wholeMessageOverTheLimitIsRejected() throws {
        var deframer = GRPCDeframer(maxMessageSize: 2)
        feed(&deframer, framed([[1, 2, 3]]))
        #expect(throws: GRPCDeframingError.tooLarge(length: 3, limit: 2)) { try deframer.next() }
    }

    @Test func emptyMessagesNeedOnlyTheirPrefix() throws {
        var deframer = GRPCDeframer(maxMessageSize: 0)
        feed(&deframer, [0, 0, 0, 0])
        #expect(try deframer.next() == nil)
        feed(&deframer, [0, 0, 0, 0, 0, 0])
        #expect(try deframer.next() == [])
        #expect(try deframer.next() == [])
        #expect(try deframer.next() == nil)
        #expect(deframer.bufferedByteCount == 0)
        try deframer.finish()
    }

    @Test func messageAtTheLimitIsAccepted() throws {
        let message = [UInt8](repeating: 5, count: 64)
        #expect(try deframe([framed([message])[...]], limit: 64) == [message])
    }

    @Test func oversizedLengthIsRejectedAsSoonAsThePrefixArrives() throws {
        var deframer = GRPCDeframer(maxMessageSize: 10)
        feed(&deframer, [0, 0, 0])
        #expect(try deframer.next() == nil)
        feed(&deframer, [0, 11])
        #expect(throws: GRPCDeframingError.tooLarge(length: 11, limit: 10)) { try deframer.next() }
        #expect(deframer.bufferedByteCount == 0)
        // Nothing more is buffered, and the error is sticky.
        feed(&deframer, [UInt8](repeating: 0, count: 11))
        #expect(deframer.bufferedByteCount == 0)
        #expect(throws: GRPCDeframingError.tooLarge(length: 11, limit: 10)) { try deframer.next() }
        #expect(throws: GRPCDeframingError.tooLarge(length: 11, limit: 10)) { try deframer.finish() }
    }

    @Test func maximumLengthPrefixIsRejectedWithoutBuffering() throws {
        var deframer = GRPCDeframer(maxMessageSize: 4 << 20)
        feed(&deframer, [0, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3])
        #expect(throws: GRPCDeframingError.tooLarge(length: 0xFFFF_FFFF, limit: 4 << 20)) { try deframer.next() }
        #expect(deframer.bufferedByteCount == 0)
    }

    @Test func messagesBeforeAFailureAreDelivered() throws {
        var deframer = GRPCDeframer(maxMessageSize: 10)
        feed(&deframer, framed([[1, 2]]) + [1, 0, 0, 0, 1, 9])
        #expect(try deframer.next() == [1, 2])
        #expect(throws: GRPCDeframingError.compressedMessage) { try deframer.next() }
    }

    @Test func compressedFlagIsRejected() throws {
        var deframer = GRPCDeframer(maxMessageSize: 10)
        feed(&deframer, [1, 0, 0, 0, 0])
        #expect(throws: GRPCDeframingError.compressedMessage) { try deframer.next() }
    }

    @Test(arguments: [UInt8(2), 0x80, 0xFF])
    func invalidFlagIsRejected(flag: UInt8) throws {
        var deframer = GRPCDeframer(maxMessageSize: 10)
        feed(&deframer, [flag, 0, 0, 0, 0])
        #expect(throws: GRPCDeframingError.badFlag(flag)) { try deframer.next() }
    }

    @Test func truncatedMessageAtEndOfStream() throws {
        var deframer = GRPCDeframer(maxMessageSize: 100)
        feed(&deframer, [0, 0, 0, 0, 10, 1, 2, 3, 4])
        #expect(try deframer.next() == nil)
        #expect(deframer.bufferedByteCount == 9)
        #expect(throws: GRPCDeframingError.truncated(buffered: 9)) { try deframer.finish() }
    }

    @Test func truncatedPrefixAtEndOfStream() throws {
        var deframer = GRPCDeframer(maxMessageSize: 100)
        feed(&deframer, framed([[7]]) + [0, 0])
        #expect(try deframer.next() == [7])
        #expect(try deframer.next() == nil)
        #expect(throws: GRPCDeframingError.truncated(buffered: 2)) { try deframer.finish() }
    }

    // MARK: append(_:deliver:) (the client's path: whole messages copied straight out of a chunk)

    /// Feeds `chunks` through `append(_:deliver:)`; returns the messages delivered.
    private func deframeDelivering(_ chunks: [ArraySlice<UInt8>], limit: Int = 1 << 20) throws -> [[UInt8]] {
        var deframer = GRPCDeframer(maxMessageSize: limit)
        var messages: [[UInt8]] = []
        for chunk in chunks {
            try Array(chunk).withUnsafeBytes { bytes in try deframer.append(bytes) { messages.append($0) } }
        }
        try deframer.finish()
        return messages
    }

    @Test func deliveringSplitIntoThreeAtEveryPairOfBoundaries() throws {
        let messages: [[UInt8]] = [[9, 9], [], [1, 2, 3, 4, 5, 6, 7], [], (0..<40).map { UInt8($0) }]
        let bytes = framed(messages)
        for first in 0...bytes.count {
            for second in first...bytes.count {
                let chunks = [bytes[..<first], bytes[first..<second], bytes[second...]]
                #expect(try deframeDelivering(chunks) == messages, "split at \(first), \(second)")
            }
        }
    }

    @Test func deliveringOneByteAtATimeAndWholeChunks() throws {
        let messages: [[UInt8]] = [[1], [], [2, 3], (0..<300).map { UInt8(truncatingIfNeeded: $0) }]
        let bytes = framed(messages)
        #expect(try deframeDelivering(bytes.indices.map { bytes[$0...$0] }) == messages)
        #expect(try deframeDelivering([bytes[...]]) == messages)
        #expect(try deframeDelivering(messages.map { framed([$0])[...] }) == messages)
    }

    @Test func deliveringMessagesBeforeABadPrefixThenFailingForGood() throws {
        var deframer = GRPCDeframer(maxMessageSize: 10)
        var messages: [[UInt8]] = []
        let bytes = framed([[1, 2]]) + [1, 0, 0, 0, 1, 9]
        #expect(throws: GRPCDeframingError.compressedMessage) {
            try bytes.withUnsafeBytes { chunk in try deframer.append(chunk) { messages.append($0) } }
        }
        #expect(messages == [[1, 2]])
        #expect(throws: GRPCDeframingError.compressedMessage) {
            try framed([[3]]).withUnsafeBytes { chunk in try deframer.append(chunk) { messages.append($0) } }
        }
        #expect(messages == [[1, 2]])
    }

    @Test func deliveringRejectsAnOversizedPrefixSplitAcrossChunksWithoutBuffering() throws {
        var deframer = GRPCDeframer(maxMessageSize: 100)
        var messages: [[UInt8]] = []
        try [UInt8]([0, 0, 0]).withUnsafeBytes { chunk in try deframer.append(chunk) { messages.append($0) } }
        #expect(throws: GRPCDeframingError.tooLarge(length: 1000, limit: 100)) {
            try [UInt8]([3, 0xE8, 1, 2]).withUnsafeBytes { chunk in try deframer.append(chunk) { messages.append($0) } }
        }
        #expect(deframer.bufferedByteCount == 0)
        #expect(messages.isEmpty)
    }

    @Test(arguments: [UInt8(2), 0x80, 0xFF])
    func deliveringRejectsAnInvalidFlag(flag: UInt8) throws {
        var deframer = GRPCDeframer(maxMessageSize: 10)
        #expect(throws: GRPCDeframingError.badFlag(flag)) {
            try [flag, 0, 0, 0, 0].withUnsafeBytes { chunk in try deframer.append(chunk) { _ in } }
        }
    }

    @Test func deliveringLeavesATruncatedTailForFinish() throws {
        var deframer = GRPCDeframer(maxMessageSize: 100)
        var messages: [[UInt8]] = []
        try (framed([[7]]) + [0, 0, 0, 0, 10, 1, 2]).withUnsafeBytes { chunk in try deframer.append(chunk) { messages.append($0) } }
        #expect(messages == [[7]])
        #expect(deframer.bufferedByteCount == 7)
        #expect(throws: GRPCDeframingError.truncated(buffered: 7)) { try deframer.finish() }
    }

    @Test func errorsMapToGRPCStatuses() {
        #expect(GRPCDeframingError.compressedMessage.status.code == .unimplemented)
        let tooLarge = GRPCDeframingError.tooLarge(length: 5_000_000, limit: 4_194_304).status
        #expect(tooLarge.code == .resourceExhausted)
        #expect(tooLarge.message.contains("5000000") && tooLarge.message.contains("4194304"))
        #expect(GRPCDeframingError.truncated(buffered: 3).status.code == .internal)
        #expect(GRPCDeframingError.badFlag(7).status.code == .internal)
    }
}
