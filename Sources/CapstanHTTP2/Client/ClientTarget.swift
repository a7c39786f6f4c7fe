import Glibc

/// One entry of a client transport's target list: a numeric address (`127.0.0.1:7443`,
/// `[::1]:7443`), or a DNS name (`localhost:7443`, `api.example:7443`) that is resolved when a
/// connection to it is needed.
enum ClientTarget: Sendable, Hashable, CustomStringConvertible {
    case address(SocketAddress)
    case name(host: String, port: Int)

    /// Parses `host:port` / `[v6]:port`; a host that is not numeric must be a valid DNS name.
    /// `http://host:port` (etcd's usual spelling of an endpoint) is taken as `host:port`; any
    /// other scheme, or a path, is refused with what to write instead.
    init(parsing text: String) throws(HTTP2TransportError) {
        if let colon = text.firstIndex(of: ":"), text[colon...].hasPrefix("://") {
            let scheme = text[..<colon].lowercased()
            var rest = text[text.index(colon, offsetBy: 3)...]
            if rest.hasSuffix("/") { rest = rest.dropLast() }
            let instead = "write HOST:PORT or http://HOST:PORT"
            guard scheme == "http" else {
                let why = scheme == "https" ? "TLS is not supported yet" : "the scheme \(scheme):// is not supported"
                throw HTTP2TransportError(.invalidAddress, "'\(text)': \(why): \(instead)")
            }
            guard !rest.contains("/") else {
                throw HTTP2TransportError(.invalidAddress, "'\(text)': a target has no path: \(instead)")
            }
            guard rest.contains(":") else {
                throw HTTP2TransportError(.invalidAddress, "'\(text)': the port is missing: \(instead)")
            }
            self = try ClientTarget(parsing: String(rest))
            return
        }
        guard !text.hasPrefix("["), let colon = text.lastIndex(of: ":") else {
            self = .address(try SocketAddress(parsing: text))
            return
        }
        let host = String(text[..<colon])
        if host.isEmpty || host.contains(":") || SocketAddress.parseIPv4(host) != nil {
            self = .address(try SocketAddress(parsing: text))
            return
        }
        let portText = text[text.index(after: colon)...]
        guard let port = Int(portText) else {
            throw HTTP2TransportError(.invalidAddress, "'\(text)': '\(portText)' is not a port")
        }
        guard (0...65_535).contains(port) else {
            throw HTTP2TransportError(.invalidAddress, "port \(port) is out of range")
        }
        guard Self.isDNSName(host) else {
            throw HTTP2TransportError(
                .invalidAddress, "'\(text)': '\(host)' is neither a numeric IPv4/IPv6 address nor a DNS name")
        }
        self = .name(host: host, port: port)
    }

    /// Letters, digits and '-' in dot-separated labels of 1–63 characters, at most 253 in all,
    /// not all digits (so a malformed IPv4 address is not taken for a name).
    static func isDNSName(_ host: String) -> Bool {
        let trimmed = host.hasSuffix(".") ? String(host.dropLast()) : host
        guard !trimmed.isEmpty, trimmed.utf8.count <= 253 else { return false }
        var allDigits = true
        for label in trimmed.split(separator: ".", omittingEmptySubsequences: false) {
            guard (1...63).contains(label.utf8.count), label.first != "-", label.last != "-" else { return false }
            for byte in label.utf8 {
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): continue
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "-"):
                    allDigits = false
                default: return false
                }
            }
        }
        return !allDigits
    }

    /// `host:port` as written.
    var description: String {
        switch self {
        case .address(let address): address.hostAndPort
        case .name(let host, let port): "\(host):\(port)"
        }
    }
}

/// Name resolution for client targets: `getaddrinfo` for TCP addresses. It blocks (for as long
/// as DNS takes), so it runs on a thread of its own (`start`): never on a loop thread, where it
/// would stall every connection of the loop, nor on Swift's cooperative pool. It runs only when
/// a named target needs a new connection and its last answer is older than the pool's
/// resolution interval.
enum NameResolver {
    /// A resolution function (`resolve`, or a test's stand-in).
    typealias Resolve = @Sendable (_ host: String, _ port: Int) throws(HTTP2TransportError) -> [SocketAddress]

    /// Calls `resolve` on a new thread (detached, named `capstan-resolve`) and hands its result
    /// to `completion` there. When no thread can be started, `completion` gets that failure at
    /// once, on the caller's thread.
    static func start(
        host: String,
        port: Int,
        using resolve: @escaping Resolve,
        completion: @escaping @Sendable (Result<[SocketAddress], HTTP2TransportError>) -> Void
    ) {
        do {
            let thread = try OSThread.spawn(name: "capstan-resolve") {
                completion(Result { () throws(HTTP2TransportError) in try resolve(host, port) })
            }
            thread.detach()
        } catch {
            completion(.failure(HTTP2TransportError(.invalidAddress, "cannot resolve '\(host)': \(error.message)")))
        }
    }

    /// Every address of `host` (IPv4 and IPv6, in the resolver's preferred order, no duplicates)
    /// with `port`; throws `invalidAddress` with the resolver's reason.
    static func resolve(host: String, port: Int) throws(HTTP2TransportError) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0 else {
            let reason = gai_strerror(status).map { String(cString: $0) } ?? "error \(status)"
            throw HTTP2TransportError(.invalidAddress, "cannot resolve '\(host)': \(reason)")
        }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var entry = list
        while let current = entry {
            if let sockaddr = current.pointee.ai_addr, current.pointee.ai_addrlen <= MemoryLayout<sockaddr_storage>.size {
                var storage = sockaddr_storage()
                withUnsafeMutableBytes(of: &storage) { target in
                    target.copyMemory(from: UnsafeRawBufferPointer(start: sockaddr, count: Int(current.pointee.ai_addrlen)))
                }
                if let found = SocketAddress(storage: storage),
                    let address = try? SocketAddress(host: found.host, port: port),
                    !addresses.contains(address)
                {
                    addresses.append(address)
                }
            }
            entry = current.pointee.ai_next
        }
        guard !addresses.isEmpty else {
            throw HTTP2TransportError(.invalidAddress, "cannot resolve '\(host)': no IPv4 or IPv6 address")
        }
        return addresses
    }
}
