/// The one error type of `CapstanHTTP2`: a code, a message, and the `errno` of a failed system call.
///
/// Errors that reach a call are converted to `RPCError` at the transport boundary (a refused or
/// lost connection becomes `UNAVAILABLE`); this type is what setup (`listen`, `bind`) throws.
public struct HTTP2TransportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// An extensible set of reasons.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// A system call failed; `errno` says why.
        public static let systemCall = Code("system call failed")
        /// An address could not be parsed or resolved.
        public static let invalidAddress = Code("invalid address")
        /// The transport, loop or connection was shut down.
        public static let shutDown = Code("shut down")
        /// The connection closed or broke.
        public static let connectionClosed = Code("connection closed")
        /// The peer stopped answering on an open connection (no PING acknowledgement in time).
        public static let peerUnresponsive = Code("peer unresponsive")
        /// The peer violated HTTP/2 or nghttp2 reported an internal failure.
        public static let protocolError = Code("protocol error")
        /// An API was used in a way it does not allow.
        public static let invalidUse = Code("invalid use")

        public var description: String { name }
    }

    public var code: Code
    public var message: String
    /// The `errno` of a failed system call.
    public var errno: Int32?

    public init(_ code: Code, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    public var description: String {
        if let errno { return "\(code): \(message) (errno \(errno))" }
        return "\(code): \(message)"
    }
}
