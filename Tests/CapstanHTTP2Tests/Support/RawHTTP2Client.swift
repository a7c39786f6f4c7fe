@testable import CapstanHTTP2
internal import CNghttp2
import Glibc

/// A deliberately low-level HTTP/2 client for tests: an nghttp2 client session over a blocking
/// loopback socket, sending exactly the header blocks and DATA bytes a test asks for (including
/// invalid gRPC framing), or raw bytes. Every read is bounded by a receive timeout.
///
/// Ownership: `user_data` is this object, unretained; the session is deleted in `close()` (or
/// `deinit`), before the object goes away. Single-threaded: one test task drives it.
final class RawHTTP2Client {
    struct Response {
        var headers: [[(String, String)]] = []
        var data: [UInt8] = []
        var closed = false
        var resetCode: UInt32?

        /// A header's value in any block (the last one wins).
        func value(_ name: String) -> String? {
            headers.flatMap { $0 }.last { $0.0 == name }?.1
        }
    }

    private(set) var fd: Int32
    private var session: OpaquePointer?
    private(set) var responses: [Int32: Response] = [:]
    private var bodies: [Int32: [UInt8]] = [:]
    private var pendingBody: [UInt8] = []
    private(set) var goAwayReceived = false
    private(set) var peerClosed = false

    /// Bounds every blocking read of `fd` (SO_RCVTIMEO). Here, where this file's imports make
    /// `timeval`'s initializer visible (with MemberImportVisibility, `Glibc` alone does not).
    static func setReceiveTimeout(_ fd: Int32, seconds: Int) {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Connects to 127.0.0.1:`port`. The socket becomes `fd` only once connected: a throw after
    /// `self` is fully initialized runs `deinit`, which would close the descriptor a second time,
    /// by then perhaps a file that another test's thread has just opened under the same number.
    init(port: Int) throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw RawError("socket failed") }
        Self.setReceiveTimeout(descriptor, seconds: 10)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw RawError("connect failed: errno \(code)")
        }
        fd = descriptor
    }

    deinit { close() }

    /// Deletes the session and closes the socket; idempotent (a second close must not close
    /// whatever descriptor reused the number).
    func close() {
        if let session { nghttp2_session_del(session) }
        session = nil
        if fd >= 0 { _ = Glibc.close(fd) }
        fd = -1
    }

    /// Starts an nghttp2 client session (preface and SETTINGS go out with the next `run`).
    func startSession(initialWindowSize: UInt32? = nil) throws {
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, userData in
            let client = Unmanaged<RawHTTP2Client>.fromOpaque(userData!).takeUnretainedValue()
            let id = frame!.pointee.hd.stream_id
            let name = String(decoding: UnsafeBufferPointer(start: name, count: nameLength), as: UTF8.self)
            let value = String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self)
            client.responses[id, default: Response()].headers[client.responses[id, default: Response()].headers.count - 1].append((name, value))
            return 0
        }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, userData in
            let client = Unmanaged<RawHTTP2Client>.fromOpaque(userData!).takeUnretainedValue()
            client.responses[frame!.pointee.hd.stream_id, default: Response()].headers.append([])
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, id, data, length, userData in
            let client = Unmanaged<RawHTTP2Client>.fromOpaque(userData!).takeUnretainedValue()
            client.responses[id, default: Response()].data.append(contentsOf: UnsafeBufferPointer(start: data, count: length))
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, id, code, userData in
            let client = Unmanaged<RawHTTP2Client>.fromOpaque(userData!).takeUnretainedValue()
            client.responses[id, default: Response()].closed = true
            if code != 0 { client.responses[id, default: Response()].resetCode = code }
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, userData in
            let client = Unmanaged<RawHTTP2Client>.fromOpaque(userData!).takeUnretainedValue()
            if frame!.pointee.hd.type == UInt8(NGHTTP2_GOAWAY.rawValue) { client.goAwayReceived = true }
            if frame!.pointee.hd.type == UInt8(NGHTTP2_RST_STREAM.rawValue) {
                client.responses[frame!.pointee.hd.stream_id, default: Response()].resetCode = frame!.pointee.rst_stream.error_code
            }
            return 0
        }
        // Header blocks past nghttp2's default 64 KiB send limit go out too (to test a server's);
        // nghttp2 bounds a block by its decoded size, so a block of HPACK references needs room.
        var option: OpaquePointer?
        nghttp2_option_new(&option)
        defer { nghttp2_option_del(option) }
        nghttp2_option_set_max_send_header_block_length(option, 1 << 24)
        var session: OpaquePointer?
        guard nghttp2_session_client_new2(&session, callbacks, Unmanaged.passUnretained(self).toOpaque(), option) == 0 else {
            throw RawError("nghttp2_session_client_new failed")
        }
        self.session = session
        if let initialWindowSize {
            var entry = nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: initialWindowSize)
            nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entry, 1)
        } else {
            nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nil, 0)
        }
    }

    /// A gRPC request to `path` with these DATA bytes (sent as they are); returns the stream id.
    @discardableResult
    func request(
        path: String,
        contentType: String = "application/grpc",
        extraHeaders: [(String, String)] = [],
        body: [UInt8],
        endStream: Bool = true
    ) throws -> Int32 {
        let headers = [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost"),
                       ("content-type", contentType), ("te", "trailers")] + extraHeaders
        var nameValues: [nghttp2_nv] = []
        var storage: [[UInt8]] = []
        for (name, value) in headers {
            storage.append(Array(name.utf8))
            storage.append(Array(value.utf8))
        }
        let id: Int32 = storage.withUnsafeMutableBufferPointer { buffers in
            for index in stride(from: 0, to: buffers.count, by: 2) {
                let name = buffers[index].withUnsafeMutableBufferPointer { $0.baseAddress! }
                let value = buffers[index + 1].withUnsafeMutableBufferPointer { $0.baseAddress! }
                nameValues.append(nghttp2_nv(
                    name: name, value: value, namelen: buffers[index].count, valuelen: buffers[index + 1].count,
                    flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
            }
            pendingBody = body
            var provider = nghttp2_data_provider(
                source: nghttp2_data_source(ptr: nil),
                read_callback: { session, id, buffer, length, flags, _, userData in
                    let client = Unmanaged<RawHTTP2Client>.fromOpaque(userData!).takeUnretainedValue()
                    var body = client.bodies[id] ?? []
                    let count = min(length, body.count)
                    body.withUnsafeBytes { UnsafeMutableRawPointer(buffer!).copyMemory(from: $0.baseAddress!, byteCount: count) }
                    body.removeFirst(count)
                    client.bodies[id] = body
                    if body.isEmpty {
                        flags!.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
                        if !(client.keepOpen.contains(id)) { return count }
                        flags!.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
                    }
                    return count
                })
            return nghttp2_submit_request(session, nil, nameValues, nameValues.count, &provider, nil)
        }
        guard id > 0 else { throw RawError("submit_request failed: \(id)") }
        bodies[id] = pendingBody
        if !endStream { keepOpen.insert(id) }
        return id
    }

    private var keepOpen = Set<Int32>()

    /// Request body bytes not yet handed to the session (waiting for flow-control windows).
    var unsentBytes: Int { bodies.values.reduce(0) { $0 + $1.count } }

    /// Sends what the session has and reads until `done` holds, the peer closes, or a read times out.
    func run(until done: (RawHTTP2Client) -> Bool) throws {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        for _ in 0..<10_000 {
            try flushSession()
            if done(self) || peerClosed { return }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 {
                peerClosed = true
                return
            }
            guard count > 0 else {
                if errno == ECONNRESET {
                    peerClosed = true
                    return
                }
                throw RawError("recv failed: errno \(errno)")
            }
            if let session {
                let result = buffer.withUnsafeBufferPointer { nghttp2_session_mem_recv(session, $0.baseAddress, count) }
                if result < 0 { throw RawError("mem_recv failed: \(result)") }
            }
        }
    }

    private func flushSession() throws {
        guard let session else { return }
        while true {
            var data: UnsafePointer<UInt8>?
            let count = nghttp2_session_mem_send(session, &data)
            guard count > 0 else { return }
            try sendAll(UnsafeRawBufferPointer(start: data, count: count))
        }
    }

    /// Resets a stream (CANCEL) and sends the frame.
    func reset(streamID: Int32) throws {
        guard let session else { throw RawError("no session") }
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, NGHTTP2_CANCEL.rawValue)
        try flushSession()
    }

    /// Writes bytes straight to the socket.
    func sendRaw(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try sendAll($0) }
    }

    private func sendAll(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let written = send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            guard written > 0 else { throw RawError("send failed: errno \(errno)") }
            offset += written
        }
    }

    /// Reads and discards until the peer closes (or a read times out: throws).
    func readUntilClosed() throws {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        for _ in 0..<100_000 {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 || (count < 0 && errno == ECONNRESET) { return }
            if count < 0 { throw RawError("recv failed: errno \(errno)") }
        }
    }

    /// Whether the server has closed the connection by now: reads (and drops) what is buffered
    /// without waiting, and looks for the end of the stream or a reset.
    func isClosedNow() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count > 0 { continue }
            return count == 0 || errno == ECONNRESET
        }
    }

    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
}

struct RawError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A gRPC length prefix with `flag` announcing `length` bytes.
func grpcPrefix(length: Int, flag: UInt8 = 0) -> [UInt8] {
    [flag, UInt8(truncatingIfNeeded: length >> 24), UInt8(truncatingIfNeeded: length >> 16),
     UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length)]
}

/// Runs blocking socket code on a thread of its own, so it never holds a thread of Swift's
/// cooperative pool (which the servers and clients under test need).
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    let box = Locked<OSThread?>(nil)
    let result: Result<T, any Error> = await withCheckedContinuation { continuation in
        do {
            let thread = try OSThread.spawn(name: "raw-client") {
                continuation.resume(returning: Result { try body() })
            }
            box.withLock { $0 = thread }
        } catch {
            continuation.resume(returning: .failure(error))
        }
    }
    box.value?.join()
    return try result.get()
}
