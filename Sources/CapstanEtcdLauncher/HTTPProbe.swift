import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A bounded HTTP/1.1 GET against a loopback port: the body, or nil on any failure. Blocking, with
/// two-second socket timeouts; only for probing test processes.
enum HTTPProbe {
    static func get(port: Int, path: String) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return nil }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n".utf8)
        var sent = 0
        while sent < request.count {
            let count = request.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return nil }
            sent += count
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        // Bounded: at most 4 MiB, each read waits at most the socket timeout.
        while response.count < 4 << 20 {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            response += buffer[0..<count]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard text.hasPrefix("HTTP/1.1 200"), let split = text.range(of: "\r\n\r\n") else { return nil }
        return String(text[split.upperBound...])
    }

    static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    /// A loopback port nothing is bound to now, from 20000–25999: below the kernel's ephemeral
    /// range (32768–60999), so no outgoing connection takes it while a member is down between a
    /// kill and its restart on the same ports (a load of thousands of connections, as the
    /// benchmarks make, would take a good share of the ephemeral ports meanwhile), and apart from
    /// the tests' restartable and held ports (26000–31999: `restartablePort()`, `RefusedPort`).
    /// Another process may still bind it before etcd does; `EtcdCluster.start` retries with new
    /// ports then.
    ///
    /// A port handed out stays reserved in this process until `release` — a member killed in a
    /// test restarts on its own ports, which no other cluster laid out meanwhile may take.
    static func freePort() -> Int? {
        for _ in 0..<200 {
            let candidate = Int.random(in: 20_000..<26_000)
            let reservedNow = reserved.withLock { reserved in
                guard !reserved.contains(candidate), canBind(port: candidate) else { return false }
                reserved.insert(candidate)
                return true
            }
            if reservedNow { return candidate }
        }
        return nil
    }

    /// Ports `freePort` handed out and not yet released.
    private static let reserved = Mutex<Set<Int>>([])

    /// Makes `ports` (from `freePort`) available to later `freePort` calls again.
    static func release(_ ports: some Sequence<Int>) {
        reserved.withLock { reserved in
            for port in ports { reserved.remove(port) }
        }
    }

    /// Whether 127.0.0.1:`port` can be bound now (with SO_REUSEADDR, as etcd binds).
    private static func canBind(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var reuse: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

/// A loopback port nothing listens on now (for tests that need an unreachable endpoint).
public func unusedLoopbackPort() -> Int? { HTTPProbe.freePort() }
