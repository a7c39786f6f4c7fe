import Glibc

/// An IPv4 or IPv6 address and port, parsed from `"host:port"` or `"[v6-host]:port"`.
///
/// Hosts are numeric (`127.0.0.1`, `::1`) or `localhost` (IPv4 loopback); names are not resolved,
/// because a resolver call would block a loop thread.
struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    enum Family: Sendable, Hashable { case ipv4, ipv6 }

    let family: Family
    /// The host in numeric form.
    let host: String
    let port: Int

    init(host: String, port: Int) throws(HTTP2TransportError) {
        guard (0...65535).contains(port) else {
            throw HTTP2TransportError(.invalidAddress, "port \(port) is out of range")
        }
        var host = host
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host == "localhost" || host.isEmpty { host = "127.0.0.1" }
        if Self.parseIPv4(host) != nil {
            family = .ipv4
        } else if Self.parseIPv6(host) != nil {
            family = .ipv6
        } else {
            throw HTTP2TransportError(.invalidAddress, "'\(host)' is not a numeric IPv4 or IPv6 address or localhost")
        }
        self.host = host
        self.port = port
    }

    /// Parses `"127.0.0.1:8080"`, `"[::1]:8080"`, `"localhost:8080"`.
    init(parsing text: String) throws(HTTP2TransportError) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw HTTP2TransportError(.invalidAddress, "'\(text)': missing ']'")
            }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.first == ":" else {
                throw HTTP2TransportError(.invalidAddress, "'\(text)': expected ':port' after ']'")
            }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw HTTP2TransportError(.invalidAddress, "'\(text)': expected host:port")
            }
            host = text[..<colon]
            if host.contains(":") {
                throw HTTP2TransportError(.invalidAddress, "'\(text)': write IPv6 hosts as [host]:port")
            }
            portText = text[text.index(after: colon)...]
        }
        guard let port = Int(portText) else {
            throw HTTP2TransportError(.invalidAddress, "'\(text)': '\(portText)' is not a port")
        }
        try self.init(host: String(host), port: port)
    }

    /// gRPC's peer notation: `ipv4:127.0.0.1:8080`, `ipv6:[::1]:8080`.
    var description: String {
        switch family {
        case .ipv4: "ipv4:\(host):\(port)"
        case .ipv6: "ipv6:[\(host)]:\(port)"
        }
    }

    /// `host:port` as the client would write it.
    var hostAndPort: String {
        switch family {
        case .ipv4: "\(host):\(port)"
        case .ipv6: "[\(host)]:\(port)"
        }
    }

    static func parseIPv4(_ text: String) -> in_addr? {
        var address = in_addr()
        return inet_pton(AF_INET, text, &address) == 1 ? address : nil
    }

    static func parseIPv6(_ text: String) -> in6_addr? {
        var address = in6_addr()
        return inet_pton(AF_INET6, text, &address) == 1 ? address : nil
    }

    /// Calls `body` with this address as a `sockaddr`.
    func withSockAddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws(HTTP2TransportError) -> Result) throws(HTTP2TransportError) -> Result {
        switch family {
        case .ipv4:
            var storage = sockaddr_in()
            storage.sin_family = sa_family_t(AF_INET)
            storage.sin_port = in_port_t(UInt16(port).bigEndian)
            storage.sin_addr = Self.parseIPv4(host)!
            return try withUnsafePointer(to: &storage) { (pointer) throws(HTTP2TransportError) -> Result in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (raw) throws(HTTP2TransportError) -> Result in
                    try body(raw, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        case .ipv6:
            var storage = sockaddr_in6()
            storage.sin6_family = sa_family_t(AF_INET6)
            storage.sin6_port = in_port_t(UInt16(port).bigEndian)
            storage.sin6_addr = Self.parseIPv6(host)!
            return try withUnsafePointer(to: &storage) { (pointer) throws(HTTP2TransportError) -> Result in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (raw) throws(HTTP2TransportError) -> Result in
                    try body(raw, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        }
    }

    /// Reads a `sockaddr_storage` filled in by the kernel.
    init?(storage: sockaddr_storage) {
        var storage = storage
        switch Int32(storage.ss_family) {
        case AF_INET:
            let address = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee }
            }
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            var raw = address.sin_addr
            guard inet_ntop(AF_INET, &raw, &text, socklen_t(text.count)) != nil else { return nil }
            family = .ipv4
            host = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            port = Int(UInt16(bigEndian: address.sin_port))
        case AF_INET6:
            let address = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee }
            }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            var raw = address.sin6_addr
            guard inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count)) != nil else { return nil }
            family = .ipv6
            host = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            port = Int(UInt16(bigEndian: address.sin6_port))
        default:
            return nil
        }
    }
}
