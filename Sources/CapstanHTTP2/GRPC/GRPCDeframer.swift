/// Reassembles gRPC messages from DATA chunks that split them anywhere.
///
/// Append each DATA chunk, then call `next()` until it returns nil. A prefix announcing a message
/// larger than `maxMessageSize`, compressed or with an invalid flag fails as soon as its five bytes
/// arrive, and the deframer then drops everything: it never accumulates a message it will refuse.
/// Errors are sticky: once `next()` threw, it throws the same error again.
struct GRPCDeframer: Sendable {
    /// The largest message accepted, in bytes.
    let maxMessageSize: Int

    /// Received bytes; those before `readIndex` were already consumed.
    private var buffer: [UInt8] = []
    private var readIndex = 0
    /// The error that ended deframing, if any.
    private var failure: GRPCDeframingError?
    /// A message that arrived whole in one chunk with nothing buffered before it (the usual
    /// unary request): kept as is rather than copied into `buffer` and out again.
    private var whole: [UInt8]?

    /// A deframer refusing messages larger than `maxMessageSize` bytes.
    init(maxMessageSize: Int) {
        precondition(maxMessageSize >= 0, "maxMessageSize must not be negative")
        self.maxMessageSize = maxMessageSize
    }

    /// The bytes received but not yet returned as messages.
    var bufferedByteCount: Int { buffer.count - readIndex + (whole.map { $0.count + GRPCFraming.prefixLength } ?? 0) }

    /// Adds the bytes of one DATA chunk (copied). Ignored after a failure.
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil, !bytes.isEmpty else { return }
        if let pending = whole {
            // More bytes before the whole message was taken: keep the order in `buffer`.
            whole = nil
            let length = UInt32(pending.count)
            buffer.append(contentsOf: [0, UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)])
            buffer.append(contentsOf: pending)
        } else if readIndex == buffer.count, bytes.count >= GRPCFraming.prefixLength, bytes[0] == 0 {
            var length = 0
            for offset in 1..<GRPCFraming.prefixLength { length = length << 8 | Int(bytes[offset]) }
            if length == bytes.count - GRPCFraming.prefixLength, length <= maxMessageSize {
                whole = Array(bytes[GRPCFraming.prefixLength...])
                return
            }
        }
        compactIfWorthwhile()
        buffer.append(contentsOf: bytes)
    }

    /// Adds the bytes of one DATA chunk and hands each message it completes to `deliver`, in
    /// order: the same messages `append` then `next()` would return, but a message lying whole
    /// inside the chunk is copied once, straight out of it; only a partial message at either end
    /// goes through the buffer. Throws as `next()` does, after delivering the messages before the
    /// bad prefix (errors are sticky).
    mutating func append(
        _ bytes: UnsafeRawBufferPointer, deliver: ([UInt8]) -> Void
    ) throws(GRPCDeframingError) {
        if let failure { throw failure }
        var offset = 0
        // Complete what is buffered first, taking from the chunk only the bytes it lacks.
        if let message = whole {
            whole = nil
            deliver(message)
        }
        while readIndex < buffer.count {
            let buffered = buffer.count - readIndex
            var need = GRPCFraming.prefixLength - buffered
            if need <= 0 {
                let length = try bufferedLength()
                need = GRPCFraming.prefixLength + length - buffered
            }
            if need > 0 {
                guard offset < bytes.count else { return }
                if buffered >= GRPCFraming.prefixLength, need <= bytes.count - offset {
                    // The buffer holds the start of one message (often just its prefix, when a
                    // sender frames the prefix apart): assemble it without buffering the rest.
                    var message: [UInt8] = []
                    message.reserveCapacity(buffered - GRPCFraming.prefixLength + need)
                    message.append(contentsOf: buffer[(readIndex + GRPCFraming.prefixLength)...])
                    message.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + need]))
                    offset += need
                    emptyBuffer()
                    deliver(message)
                    continue
                }
                let take = min(need, bytes.count - offset)
                buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + take]))
                offset += take
                if take < need { return }
                // Only the prefix was completed: read its length next.
                if buffered + take <= GRPCFraming.prefixLength { continue }
            }
            if let message = try next() { deliver(message) }
        }
        // Nothing buffered: parse the chunk in place.
        while bytes.count - offset >= GRPCFraming.prefixLength {
            let length: Int
            do {
                length = try Self.announcedLength(prefixAt: offset, in: bytes, limit: maxMessageSize)
            } catch {
                fail(error)
                throw error
            }
            let start = offset + GRPCFraming.prefixLength
            guard bytes.count - start >= length else { break }
            deliver(Array(UnsafeRawBufferPointer(rebasing: bytes[start..<start + length])))
            offset = start + length
        }
        if offset < bytes.count {
            compactIfWorthwhile()
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset...]))
        }
    }

    /// The next complete message, or nil until more bytes arrive.
    mutating func next() throws(GRPCDeframingError) -> [UInt8]? {
        if let failure { throw failure }
        if let message = whole {
            whole = nil
            return message
        }
        guard bufferedByteCount >= GRPCFraming.prefixLength else { return nil }
        let length = try bufferedLength()
        let start = readIndex + GRPCFraming.prefixLength
        guard buffer.count - start >= length else { return nil }
        let message = Array(buffer[start..<start + length])
        readIndex = start + length
        if readIndex == buffer.count { emptyBuffer() }
        return message
    }

    /// Checks, at end of stream, that no partial message is left (nor an earlier failure).
    func finish() throws(GRPCDeframingError) {
        if let failure { throw failure }
        if bufferedByteCount > 0 { throw .truncated(buffered: bufferedByteCount) }
    }

    /// The length announced by the buffered prefix at `readIndex`; a bad prefix is recorded as the failure.
    private mutating func bufferedLength() throws(GRPCDeframingError) -> Int {
        do {
            return try Self.announcedLength(prefixAt: readIndex, in: buffer, limit: maxMessageSize)
        } catch {
            fail(error)
            throw error
        }
    }

    /// The length the 5-byte prefix at `start` announces, or the error its flag or length is.
    private static func announcedLength<Bytes: RandomAccessCollection<UInt8>>(
        prefixAt start: Int, in bytes: Bytes, limit: Int
    ) throws(GRPCDeframingError) -> Int where Bytes.Index == Int {
        switch bytes[start] {
        case 0: break
        case 1: throw .compressedMessage
        case let flag: throw .badFlag(flag)
        }
        var length = 0
        for index in 1..<GRPCFraming.prefixLength { length = length << 8 | Int(bytes[start + index]) }
        if length > limit { throw .tooLarge(length: length, limit: limit) }
        return length
    }

    /// Records `error` and releases the buffer; later input is dropped.
    private mutating func fail(_ error: GRPCDeframingError) {
        failure = error
        buffer = []
        readIndex = 0
        whole = nil
    }

    /// Empties the buffer, keeping its storage unless it grew past `keptCapacity` (a stream that
    /// received one large message does not hold its size for the rest of its life).
    private mutating func emptyBuffer() {
        if buffer.capacity > Self.keptCapacity { buffer = [] } else { buffer.removeAll(keepingCapacity: true) }
        readIndex = 0
    }

    /// The most buffer storage kept between messages.
    static let keptCapacity = 64 * 1024

    /// Drops consumed bytes once they are the larger part of the buffer, so appends stay amortized O(n).
    private mutating func compactIfWorthwhile() {
        guard readIndex > 0, readIndex >= buffer.count - readIndex else { return }
        buffer.removeSubrange(0..<readIndex)
        readIndex = 0
    }
}
