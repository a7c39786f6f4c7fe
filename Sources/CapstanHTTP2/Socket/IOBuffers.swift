import Glibc

/// A fixed block of memory a loop reads sockets into. One per loop: a read is handed to the
/// connection's session before the next read, so connections on a loop can share it.
/// Loop-thread only.
final class ReadBuffer {
    let capacity: Int
    private let storage: UnsafeMutableRawBufferPointer

    init(capacity: Int) {
        self.capacity = capacity
        storage = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    /// Reads from `fd`: the byte count (0 at end of stream), or `nil` when nothing is available.
    func read(from fd: Int32) throws(HTTP2TransportError) -> Int? {
        let base = storage.baseAddress
        let capacity = capacity
        return try System.callNonBlocking("read") { Glibc.read(fd, base, capacity) }
    }

    /// The first `count` bytes read.
    func withBytes<Result>(count: Int, _ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(UnsafeRawBufferPointer(rebasing: storage[0..<count]))
    }
}

/// Bytes waiting to be written to a socket, written from the front. Loop-thread only.
final class WriteBuffer {
    private var storage: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0

    init(capacity: Int = 16 * 1024) {
        storage = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    var count: Int { end - start }
    var isEmpty: Bool { start == end }

    func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        reserve(bytes.count)
        UnsafeMutableRawBufferPointer(rebasing: storage[end..<(end + bytes.count)]).copyMemory(from: bytes)
        end += bytes.count
    }

    private func reserve(_ extra: Int) {
        if end + extra <= storage.count { return }
        let live = end - start
        if live + extra <= storage.count, start > 0 {
            // Slide the unwritten bytes to the front.
            if live > 0 {
                storage.baseAddress!.copyMemory(from: storage.baseAddress! + start, byteCount: live)
            }
            start = 0
            end = live
            return
        }
        var capacity = storage.count * 2
        while capacity < live + extra { capacity *= 2 }
        let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 16)
        if live > 0 { bigger.baseAddress!.copyMemory(from: storage.baseAddress! + start, byteCount: live) }
        storage.deallocate()
        storage = bigger
        start = 0
        end = live
    }

    /// Writes as much as the socket takes. Returns whether everything was written (false: the
    /// socket is full; wait for writability). Throws when the socket failed.
    func write(to fd: Int32) throws(HTTP2TransportError) -> Bool {
        while start < end {
            let base = storage.baseAddress! + start
            let length = end - start
            guard let written = try System.callNonBlocking("send", { Glibc.send(fd, base, length, Int32(MSG_NOSIGNAL)) }) else {
                return false
            }
            start += written
        }
        start = 0
        end = 0
        return true
    }

    /// Moves the bytes not yet written to the end of `other`, leaving this buffer empty.
    func moveUnwritten(to other: WriteBuffer) {
        other.append(UnsafeRawBufferPointer(rebasing: storage[start..<end]))
        start = 0
        end = 0
    }

    /// Drops everything (after a connection closed, or when a write failed).
    func reset() {
        start = 0
        end = 0
    }
}
