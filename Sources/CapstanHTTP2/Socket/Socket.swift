internal import CLinux
import Glibc

/// Non-blocking TCP socket operations on raw descriptors. The descriptor's owner (a listener or a
/// connection, on one loop thread) closes it.
enum Socket {
    /// A non-blocking listening socket bound to `address` (port 0: the kernel picks one).
    static func listen(on address: SocketAddress, backlog: Int32 = 1024) throws(HTTP2TransportError) -> Int32 {
        let family = address.family == .ipv4 ? AF_INET : AF_INET6
        let fd = try System.call("socket") {
            socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do {
            try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            if address.family == .ipv6 { try setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
            _ = try address.withSockAddr { (pointer, length) throws(HTTP2TransportError) in
                try System.call("bind") { bind(fd, pointer, length) }
            }
            _ = try System.call("listen") { Glibc.listen(fd, backlog) }
            return fd
        } catch {
            System.close(fd)
            throw error
        }
    }

    /// Accepts one connection: its non-blocking descriptor and the peer's address; `nil` when
    /// none is waiting.
    static func accept(_ listener: Int32) throws(HTTP2TransportError) -> (fd: Int32, peer: SocketAddress?)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = try withUnsafeMutablePointer(to: &storage) { (pointer) throws(HTTP2TransportError) -> Int32? in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (raw) throws(HTTP2TransportError) -> Int32? in
                try System.callNonBlocking("accept") { Glibc.accept(listener, raw, &length) }
            }
        }
        guard let fd = result else { return nil }
        // (Glibc does not import accept4; two fcntl calls per connection are cheap.)
        do {
            _ = try System.call("fcntl(F_SETFD)") { fcntl(fd, F_SETFD, FD_CLOEXEC) }
            let flags = try System.call("fcntl(F_GETFL)") { fcntl(fd, F_GETFL) }
            _ = try System.call("fcntl(F_SETFL)") { fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
        } catch {
            System.close(fd)
            throw error
        }
        return (fd, SocketAddress(storage: storage))
    }

    /// Starts connecting a non-blocking socket to `address`. `connected` is false while the
    /// connection is in progress (wait for writability, then call `connectionError`).
    static func connect(to address: SocketAddress) throws(HTTP2TransportError) -> (fd: Int32, connected: Bool) {
        let family = address.family == .ipv4 ? AF_INET : AF_INET6
        let fd = try System.call("socket") {
            socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do {
            let result = try address.withSockAddr { (pointer, length) throws(HTTP2TransportError) in
                try System.callNonBlocking("connect") { Glibc.connect(fd, pointer, length) }
            }
            return (fd, result != nil)
        } catch {
            System.close(fd)
            throw error
        }
    }

    /// The outcome of a non-blocking connect, once the socket became writable: `nil` on success.
    static func connectionError(_ fd: Int32) -> HTTP2TransportError? {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        do {
            _ = try System.call("getsockopt(SO_ERROR)") { getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) }
        } catch {
            return error
        }
        return value == 0 ? nil : System.failure("connect", value)
    }

    static func setNoDelay(_ fd: Int32) throws(HTTP2TransportError) {
        try setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
    }

    /// Turns on the kernel's TCP keepalive: after `idle` without traffic, a probe every
    /// `interval`; `count` unanswered probes reset the connection. The kernel takes whole
    /// seconds (at least 1) and at least one probe.
    static func setKeepalive(_ fd: Int32, _ keepalive: TCPKeepalive) throws(HTTP2TransportError) {
        try setOption(fd, SOL_SOCKET, SO_KEEPALIVE, 1)
        try setOption(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, Int32(clamping: max(1, keepalive.idle.components.seconds)))
        try setOption(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, Int32(clamping: max(1, keepalive.interval.components.seconds)))
        try setOption(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT, Int32(clamping: max(1, keepalive.count)))
    }

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) throws(HTTP2TransportError) {
        var value = value
        _ = try System.call("setsockopt") {
            setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    static func localAddress(_ fd: Int32) -> SocketAddress? {
        address(fd, getsockname)
    }

    static func peerAddress(_ fd: Int32) -> SocketAddress? {
        address(fd, getpeername)
    }

    private static func address(
        _ fd: Int32,
        _ query: (Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?) -> Int32
    ) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = try? withUnsafeMutablePointer(to: &storage) { (pointer) throws(HTTP2TransportError) -> Int32 in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (raw) throws(HTTP2TransportError) -> Int32 in
                try System.call("getsockname/getpeername") { query(fd, raw, &length) }
            }
        }
        return result == nil ? nil : SocketAddress(storage: storage)
    }
}
