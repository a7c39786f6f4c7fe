import Synchronization

/// What one stream still has to send: framed gRPC messages (or raw body bytes) waiting for
/// nghttp2's data provider, how the stream ends, and the writers waiting for room.
///
/// Loop-thread only (but for `queuedBytesSeenByWriters`). A writer appends and, while more than
/// `highWater` bytes are queued, parks until the data provider has drained the queue below it;
/// that is the outbound back-pressure: nghttp2 only drains what the peer's flow-control window
/// admits.
final class StreamOutbound {
    enum End {
        /// END_STREAM on the last DATA frame (client half-close, plain HTTP body).
        case endStream
        /// Trailers after the data (a gRPC server's status).
        case trailers([HeaderField])
    }

    private enum Chunk {
        /// A gRPC message prefix: flag 0 and this length, written without allocating.
        case prefix(UInt32)
        case bytes([UInt8])

        var count: Int {
            switch self {
            case .prefix: GRPCFraming.prefixLength
            case .bytes(let bytes): bytes.count
            }
        }
    }

    private var chunks: [Chunk] = []
    private var head = 0
    private var headOffset = 0

    /// Bytes queued and not yet handed to nghttp2.
    private(set) var queuedBytes = 0 {
        didSet { queuedBytesSeenByWriters.store(queuedBytes, ordering: .relaxed) }
    }
    /// `queuedBytes` for writers on other threads, which may not touch the rest (it may lag a
    /// change on the loop; a writer off the loop adds what it has in transit).
    let queuedBytesSeenByWriters = Atomic<Int>(0)
    /// The largest `queuedBytes` seen (for tests and diagnostics).
    private(set) var queuedHighWaterMark = 0
    /// How the stream ends once the queue is drained; set once.
    private(set) var end: End?
    /// The data provider answered DEFERRED: new data needs `nghttp2_session_resume_data`.
    var deferred = false
    /// The data provider reported EOF (and submitted trailers if any): nothing more goes out.
    var finished = false

    /// Above this many queued bytes writers park.
    let highWater: Int
    private var waiters: [CheckedContinuation<Void, any Error>] = []
    /// Once set, parking and later writes fail with it.
    private(set) var failure: (any Error)?

    init(highWater: Int) {
        self.highWater = highWater
    }

    var isEmpty: Bool { queuedBytes == 0 }
    var isOverHighWater: Bool { queuedBytes > highWater }

    /// Queues one gRPC message with its 5-byte prefix.
    func appendMessage(_ message: [UInt8]) {
        precondition(message.count <= Int(UInt32.max), "a gRPC message is at most 4 GiB")
        if chunks.capacity == 0 { chunks.reserveCapacity(4) }
        chunks.append(.prefix(UInt32(message.count)))
        if !message.isEmpty { chunks.append(.bytes(message)) }
        queuedBytes += GRPCFraming.prefixLength + message.count
        queuedHighWaterMark = max(queuedHighWaterMark, queuedBytes)
    }

    /// Queues raw body bytes (a plain HTTP error body).
    func appendRaw(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        chunks.append(.bytes(bytes))
        queuedBytes += bytes.count
        queuedHighWaterMark = max(queuedHighWaterMark, queuedBytes)
    }

    /// Sets how the stream ends (the first call wins).
    func setEnd(_ end: End) {
        if self.end == nil { self.end = end }
    }

    /// Drops what is queued (a stream ended abortively).
    func clear() {
        chunks.removeAll()
        head = 0
        headOffset = 0
        queuedBytes = 0
    }

    /// Copies up to `buffer.count` queued bytes into `buffer`; returns how many. Writers parked
    /// for room continue once the queue is below the mark.
    func fill(_ buffer: UnsafeMutableRawBufferPointer) -> Int {
        var written = 0
        while written < buffer.count, head < chunks.count {
            let chunk = chunks[head]
            let available = chunk.count - headOffset
            let take = min(available, buffer.count - written)
            switch chunk {
            case .prefix(let length):
                var prefix: (UInt8, UInt8, UInt8, UInt8, UInt8) = (
                    0, UInt8(truncatingIfNeeded: length >> 24), UInt8(truncatingIfNeeded: length >> 16),
                    UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length)
                )
                withUnsafeBytes(of: &prefix) { raw in
                    buffer.baseAddress!.advanced(by: written)
                        .copyMemory(from: raw.baseAddress!.advanced(by: headOffset), byteCount: take)
                }
            case .bytes(let bytes):
                bytes.withUnsafeBytes { raw in
                    buffer.baseAddress!.advanced(by: written)
                        .copyMemory(from: raw.baseAddress!.advanced(by: headOffset), byteCount: take)
                }
            }
            written += take
            if take == available {
                head += 1
                headOffset = 0
            } else {
                headOffset += take
            }
        }
        queuedBytes -= written
        if head == chunks.count {
            chunks.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 64, head * 2 > chunks.count {
            chunks.removeFirst(head)
            head = 0
        }
        if !waiters.isEmpty, queuedBytes <= highWater { openGate() }
        return written
    }

    // MARK: Writers waiting for room

    /// Parks a writer until the queue drains below the mark (or the stream ends).
    func park(_ continuation: CheckedContinuation<Void, any Error>) {
        if let failure {
            continuation.resume(throwing: failure)
        } else if queuedBytes <= highWater {
            continuation.resume()
        } else {
            waiters.append(continuation)
        }
    }

    /// The task of the parked writers was cancelled (a stream has one writing task at a time).
    func cancelParked() {
        let woken = waiters
        waiters.removeAll()
        for waiter in woken { waiter.resume(throwing: CancellationError()) }
    }

    private func openGate() {
        let woken = waiters
        waiters.removeAll()
        for waiter in woken { waiter.resume() }
    }

    /// The stream ended: parked writers and later writes fail with `error`.
    func fail(_ error: @autoclosure () -> any Error) {
        if failure == nil { failure = error() }
        guard !waiters.isEmpty, let failure else { return }
        let woken = waiters
        waiters.removeAll()
        for waiter in woken { waiter.resume(throwing: failure) }
    }
}
