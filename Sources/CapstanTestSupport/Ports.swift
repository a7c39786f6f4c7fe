import Glibc

/// A loopback TCP port for a server that a test stops and starts again on the same port.
///
/// Port 0 would hand out a port from the kernel's ephemeral range (32768–60999 by default), where
/// a concurrently running test's port-0 listener or outgoing connection can take it between the
/// stop and the restart. This one comes from 26000–28999, which the kernel never hands out by
/// itself, and is checked free by binding it (then released). The etcd launcher takes its
/// members' ports from 20000–25999 and `RefusedPort` from 29000–31999, so neither can take it
/// meanwhile.
public func restartablePort() throws -> Int {
    for _ in 0..<200 {
        let candidate = Int.random(in: 26_000..<29_000)
        if canBindLoopback(port: candidate) { return candidate }
    }
    throw TestTimeout(what: "a free loopback port below the ephemeral range")
}

/// Whether 127.0.0.1:`port` can be bound now (with SO_REUSEADDR, as servers bind).
public func canBindLoopback(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var reuse: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let length = socklen_t(MemoryLayout<sockaddr_in>.size)
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 }
    }
}
