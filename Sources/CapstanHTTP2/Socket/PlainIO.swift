import Glibc

/// Byte-array reads and writes and `poll(2)`, for the metrics endpoint's plain HTTP/1.1 thread
/// (non-blocking descriptors; `nil` means "would block").
enum PlainIO {
    /// Reads at most `limit` bytes appended to `buffer`: the count (0 at end of stream), or `nil`
    /// when nothing is available.
    static func read(_ fd: Int32, appendingTo buffer: inout [UInt8], limit: Int) throws(HTTP2TransportError) -> Int? {
        guard limit > 0 else { return 0 }
        var chunk = [UInt8](repeating: 0, count: limit)
        let count = try System.callNonBlocking("read") {
            chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, limit) }
        }
        if let count, count > 0 { buffer.append(contentsOf: chunk[..<count]) }
        return count
    }

    /// Writes from `bytes[offset...]`: how many were written, or `nil` when the socket is full.
    static func write(_ fd: Int32, _ bytes: [UInt8], from offset: Int) throws(HTTP2TransportError) -> Int? {
        guard offset < bytes.count else { return 0 }
        return try System.callNonBlocking("send") {
            bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
        }
    }

    /// One descriptor to wait on and what it turned out to be ready for.
    struct Wait {
        var fd: Int32
        var interest: IOInterest
        var ready = IOInterest()
        /// Error or hang-up.
        var failed = false
    }

    /// Waits until one of `waits` is ready or `timeoutMilliseconds` passed (-1: no limit), filling
    /// in `ready` and `failed`.
    static func poll(_ waits: inout [Wait], timeoutMilliseconds: Int32) throws(HTTP2TransportError) {
        var fds = waits.map { wait in
            var events: Int16 = 0
            if wait.interest.contains(.read) { events |= Int16(POLLIN) }
            if wait.interest.contains(.write) { events |= Int16(POLLOUT) }
            return pollfd(fd: wait.fd, events: events, revents: 0)
        }
        let count = nfds_t(fds.count)
        _ = try System.call("poll") {
            fds.withUnsafeMutableBufferPointer { Glibc.poll($0.baseAddress, count, timeoutMilliseconds) }
        }
        for index in waits.indices {
            let revents = Int32(fds[index].revents)
            var ready = IOInterest()
            if revents & Int32(POLLIN) != 0 { ready.insert(.read) }
            if revents & Int32(POLLOUT) != 0 { ready.insert(.write) }
            waits[index].ready = ready
            waits[index].failed = revents & Int32(POLLERR | POLLHUP | POLLNVAL) != 0
        }
    }
}

extension PlainIO {
    /// Sends FIN after the data written so far (the read side stays open).
    static func shutdownWrite(_ fd: Int32) {
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
    }
}
