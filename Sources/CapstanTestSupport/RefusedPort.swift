import Glibc

/// A loopback port nothing answers on, held for as long as this value lives: bound on 127.0.0.1
/// and on ::1 (where the machine has it) but never listening, so a connection to it is refused.
///
/// A port checked free and released (`restartablePort()`) can be taken meanwhile by a test server
/// or an etcd member that another test starts, and a test expecting "nothing reachable" then gets
/// that server's answer instead (etcd answers a Capstan method with UNIMPLEMENTED). A held port
/// cannot be taken: the sockets do not set SO_REUSEADDR, so every later bind of it fails.
public final class RefusedPort: Sendable {
    /// The port number.
    public let port: Int
    private let sockets: [Int32]

    public init() throws {
        for _ in 0..<200 {
            // From below the ephemeral range: a test that releases the port to start a server on
            // it is not raced by other tests' port-0 listeners or outgoing connections, which the
            // kernel gives ephemeral ports; and apart from `restartablePort()`'s, so that it does
            // not take a port another test's server is stopped on for a moment.
            guard let (v4, port) = Self.bind(family: AF_INET, port: Int.random(in: 29_000..<32_000)) else { continue }
            if let (v6, _) = Self.bind(family: AF_INET6, port: port) {
                self.port = port
                sockets = [v4, v6]
                return
            }
            if !Self.hasLoopbackV6() {
                self.port = port
                sockets = [v4]
                return
            }
            close(v4)
        }
        throw TestTimeout(what: "a loopback port to hold on 127.0.0.1 and ::1")
    }

    deinit {
        for socket in sockets { close(socket) }
    }

    /// A socket bound to the loopback address of `family` on `port` (0: one the kernel picks).
    private static func bind(family: Int32, port: Int) -> (Int32, Int)? {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var storage = sockaddr_storage()
        var length = socklen_t(0)
        func store<Address>(_ address: Address) {
            length = socklen_t(MemoryLayout<Address>.size)
            withUnsafeBytes(of: address) { bytes in
                withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: bytes) }
            }
        }
        if family == AF_INET {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            store(address)
        } else {
            var only: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &only, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_addr = in6addr_loopback
            address.sin6_port = UInt16(port).bigEndian
            store(address)
        }
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) == 0 }
        }
        guard bound else {
            close(fd)
            return nil
        }
        guard port == 0 else { return (fd, port) }
        let chosen = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) == 0 }
        }
        guard chosen else {
            close(fd)
            return nil
        }
        let network = withUnsafeBytes(of: storage) {
            family == AF_INET ? $0.load(as: sockaddr_in.self).sin_port : $0.load(as: sockaddr_in6.self).sin6_port
        }
        return (fd, Int(UInt16(bigEndian: network)))
    }

    /// Whether ::1 can be bound at all here (a machine without IPv6 has no such address).
    private static func hasLoopbackV6() -> Bool {
        guard let (fd, _) = bind(family: AF_INET6, port: 0) else { return false }
        close(fd)
        return true
    }
}
