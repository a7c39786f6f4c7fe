internal import CapstanRPC
import Synchronization

/// What one stream still has to send: framed gRPC messages (or raw body bytes) waiting for
/// nghttp2's data provider, how the stream ends, and the writers waiting for room.
///
/// The stream types inherit from it (`ServerStream`, `ClientStream`), so a stream is one
/// allocation; its members are `final`.
///
/// Loop-thread only, except `unsentBytes`. A writer appends and, while more than `highWater`
/// bytes are queued, parks until the data provider has drained the queue below it; that is the
/// outbound back-pressure: nghttp2 only drains what the peer's flow-control window admits.
class StreamOutbound {
    enum End {
        /// END_STREAM on the last DATA frame (client half-close, plain HTTP body).
        case endStream
        /// Trailers after the data (a gRPC server's status).
        case trailers([HeaderField])
        /// Trailers prepared once (the OK trailers most calls end with).
        case preparedTrailers(PreparedHeaders)
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

    /// The first message queued while nothing else was (a unary response), kept out of `chunks`
    /// so that case needs no array; it goes out before `chunks`. `firstOffset` counts the bytes
    /// of its prefix and body already handed out.
    // Loop thread only, never across a suspension: no dynamic exclusivity checks (see
    // `ServerConnection.streams`).
    @exclusivity(unchecked) final private var first: [UInt8]?
    final private var firstOffset = 0
    @exclusivity(unchecked) final private var chunks: [Chunk] = []
    final private var head = 0
    final private var headOffset = 0

    /// Bytes queued and not yet handed to nghttp2.
    final private(set) var queuedBytes = 0
    /// Bytes handed to nghttp2 so far (wrapping): a server tells a stalled stream by it.
    final private(set) var handedOver = 0
    /// Bytes written and not yet handed to nghttp2, including those a writer on another thread
    /// is still handing to the loop: that writer adds them before the hop (and may go on without
    /// waiting while the total is below the mark); `fill` and `clear` take them off.
    final let unsentBytes = Atomic<Int>(0)
    /// The largest `queuedBytes` seen (for tests and diagnostics).
    final private(set) var queuedHighWaterMark = 0
    /// How the stream ends once the queue is drained; set once.
    final private(set) var end: End?
    /// The data provider answered DEFERRED: new data needs `nghttp2_session_resume_data`.
    final var deferred = false
    /// The data provider reported EOF (and submitted trailers if any): nothing more goes out.
    final var providerFinished = false

    /// Above this many queued bytes writers park.
    final let highWater: Int
    /// Counts the queued bytes of limited writes for the connection and its loop (a server's
    /// streams; nil: none), until `detachLedger`.
    final var ledger: ByteLedger?
    /// The queued bytes `ledger` counts: limited writes' (see `appendMessage`). Bytes leaving
    /// the queue leave this count first, so it reaches zero when the queue does.
    final private(set) var ledgerBytes = 0
    @exclusivity(unchecked) final private var waiters: [CheckedContinuation<Void, any Error>] = []
    /// Once set, parking and later writes fail with it.
    @exclusivity(unchecked) final private(set) var failure: RPCError?

    init(highWater: Int) {
        self.highWater = highWater
    }

    final var isEmpty: Bool { queuedBytes == 0 }
    final var isOverHighWater: Bool { queuedBytes > highWater }

    /// Queues one gRPC message with its 5-byte prefix. `counted`: a writer on another thread
    /// already added it to `unsentBytes`. `limited`: `ledger` counts it (a stream's writes that
    /// its back-pressure bounds instead are not).
    final func appendMessage(_ message: [UInt8], counted: Bool = false, limited: Bool = true) {
        precondition(message.count <= Int(UInt32.max), "a gRPC message is at most 4 GiB")
        if queuedBytes == 0, first == nil, head == chunks.count {
            first = message
            firstOffset = 0
        } else {
            if chunks.capacity == 0 { chunks.reserveCapacity(4) }
            chunks.append(.prefix(UInt32(message.count)))
            if !message.isEmpty { chunks.append(.bytes(message)) }
        }
        queuedBytes += GRPCFraming.prefixLength + message.count
        if limited { charge(GRPCFraming.prefixLength + message.count) }
        queuedHighWaterMark = max(queuedHighWaterMark, queuedBytes)
        if !counted { unsentBytes.add(GRPCFraming.prefixLength + message.count, ordering: .relaxed) }
    }

    /// Queues raw body bytes (a plain HTTP error body).
    final func appendRaw(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        chunks.append(.bytes(bytes))
        queuedBytes += bytes.count
        charge(bytes.count)
        queuedHighWaterMark = max(queuedHighWaterMark, queuedBytes)
        unsentBytes.add(bytes.count, ordering: .relaxed)
    }

    private func charge(_ bytes: Int) {
        guard let ledger else { return }
        ledger.add(bytes)
        ledgerBytes += bytes
    }

    /// `bytes` left the queue: they leave the ledger's count first.
    private func discharge(_ bytes: Int) {
        let leaving = min(bytes, ledgerBytes)
        guard leaving > 0 else { return }
        ledgerBytes -= leaving
        ledger?.subtract(leaving)
    }

    /// Stops counting in `ledger` (the stream closed): what is still queued leaves its count.
    final func detachLedger() {
        guard let ledger else { return }
        ledger.subtract(ledgerBytes)
        ledgerBytes = 0
        self.ledger = nil
    }

    /// Sets how the stream ends (the first call wins).
    final func setEnd(_ end: End) {
        if self.end == nil { self.end = end }
    }

    /// Drops what is queued (a stream ended abortively).
    final func clear() {
        unsentBytes.subtract(queuedBytes, ordering: .relaxed)
        discharge(queuedBytes)
        first = nil
        firstOffset = 0
        chunks.removeAll()
        head = 0
        headOffset = 0
        queuedBytes = 0
    }

    /// Copies up to `buffer.count` queued bytes into `buffer`; returns how many. Writers parked
    /// for room continue once the queue is below the mark.
    final func fill(_ buffer: UnsafeMutableRawBufferPointer) -> Int {
        var written = 0
        if let message = first {
            written = fillFirst(message, into: buffer)
        }
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
        if written > 0 { discharge(written) }
        handedOver &+= written
        if written > 0 { unsentBytes.subtract(written, ordering: .relaxed) }
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

    /// Copies what `buffer` takes of `first` (its prefix, then its body); returns how many bytes.
    final private func fillFirst(_ message: [UInt8], into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let length = UInt32(message.count)
        var prefix: (UInt8, UInt8, UInt8, UInt8, UInt8) = (
            0, UInt8(truncatingIfNeeded: length >> 24), UInt8(truncatingIfNeeded: length >> 16),
            UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length)
        )
        var written = 0
        if firstOffset < GRPCFraming.prefixLength {
            let take = min(GRPCFraming.prefixLength - firstOffset, buffer.count)
            withUnsafeBytes(of: &prefix) { raw in
                buffer.baseAddress!.copyMemory(from: raw.baseAddress!.advanced(by: firstOffset), byteCount: take)
            }
            written = take
            firstOffset += take
        }
        if firstOffset >= GRPCFraming.prefixLength, written < buffer.count {
            let bodyOffset = firstOffset - GRPCFraming.prefixLength
            let take = min(message.count - bodyOffset, buffer.count - written)
            if take > 0 {
                message.withUnsafeBytes { raw in
                    buffer.baseAddress!.advanced(by: written)
                        .copyMemory(from: raw.baseAddress!.advanced(by: bodyOffset), byteCount: take)
                }
            }
            written += take
            firstOffset += take
        }
        if firstOffset == GRPCFraming.prefixLength + message.count {
            first = nil
            firstOffset = 0
        }
        return written
    }

    // MARK: Writers waiting for room

    /// Parks a writer until the queue drains below the mark (or the stream ends).
    final func park(_ continuation: CheckedContinuation<Void, any Error>) {
        if let failure {
            continuation.resume(throwing: failure)
        } else if queuedBytes <= highWater {
            continuation.resume()
        } else {
            waiters.append(continuation)
        }
    }

    /// The task of the parked writers was cancelled (a stream has one writing task at a time).
    final func cancelParked() {
        let woken = waiters
        waiters.removeAll()
        for waiter in woken { waiter.resume(throwing: CancellationError()) }
    }

    final private func openGate() {
        let woken = waiters
        waiters.removeAll()
        for waiter in woken { waiter.resume() }
    }

    /// The stream ended: parked writers and later writes fail with `error`.
    final func fail(_ error: RPCError) {
        if failure == nil { failure = error }
        guard !waiters.isEmpty, let failure else { return }
        let woken = waiters
        waiters.removeAll()
        for waiter in woken { waiter.resume(throwing: failure) }
    }
}
