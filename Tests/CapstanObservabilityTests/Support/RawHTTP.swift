import Foundation
import Glibc

/// A blocking loopback TCP client for talking plain HTTP to the metrics endpoint in tests.
struct RawConnection: ~Copyable {
    let fd: Int32

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Connects to 127.0.0.1:`port`, with 10 s send and receive timeouts.
    ///
    /// The socket becomes `fd` only once connected: a throw after `self` is fully initialized
    /// runs `deinit`, which would close the descriptor a second time, by then perhaps a file that
    /// another test's thread has just opened under the same number.
    init(port: Int) throws {
        fd = try Self.connectedSocket(port: port)
    }

    /// A blocking TCP socket connected to 127.0.0.1:`port`, with 10 s send and receive timeouts
    /// (the caller closes it); closed again when the connect fails.
    static func connectedSocket(port: Int) throws -> Int32 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            close(descriptor)
            throw Failure(description: "connect to port \(port): errno \(code)")
        }
        return descriptor
    }

    deinit { close(fd) }

    func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw Failure(description: "send: errno \(errno)") }
            offset += written
        }
    }

    /// Everything until the server closes (or the receive timeout passes).
    func receiveAll() throws -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { return result }
            guard count > 0 else {
                if errno == EINTR { continue }
                throw Failure(description: "recv: errno \(errno) after \(result.count) bytes")
            }
            result.append(contentsOf: chunk[..<count])
        }
    }
}

/// A parsed HTTP/1.1 response.
struct RawResponse {
    var status: Int
    var headers: [String: String]
    var body: String

    init(_ bytes: [UInt8]) throws {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else {
            throw RawConnection.Failure(description: "no end of head in \(text.prefix(200))")
        }
        let head = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let statusLine = head[0].split(separator: " ", maxSplits: 2)
        guard statusLine.count >= 2, statusLine[0] == "HTTP/1.1", let status = Int(statusLine[1]) else {
            throw RawConnection.Failure(description: "bad status line '\(head[0])'")
        }
        self.status = status
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { throw RawConnection.Failure(description: "bad header '\(line)'") }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        self.headers = headers
        self.body = String(text[split.upperBound...])
    }
}

/// Sends `request` on a new connection and reads the whole response.
func httpExchange(port: Int, _ request: String) throws -> RawResponse {
    let connection = try RawConnection(port: port)
    try connection.send(request)
    return try RawResponse(connection.receiveAll())
}
