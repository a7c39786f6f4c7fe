public import CapstanRPC

/// Who a bearer token stands for and what it may do.
public struct Identity: Sendable, Hashable {
    /// What an identity may call.
    public enum Access: Sendable, Hashable {
        /// Every method.
        case readWrite
        /// Only Get, List and Watch.
        case readOnly
    }

    public var name: String
    public var access: Access

    public init(name: String, access: Access) {
        self.name = name
        self.access = access
    }
}

/// Static bearer-token authentication and read/write authorization for the API services:
/// `authorization: Bearer <token>` must name a known token (else UNAUTHENTICATED), and a
/// read-only identity may only call Get, List and Watch (else PERMISSION_DENIED). The standard
/// `grpc.*` services (health, reflection) stay open.
public struct TokenAuthenticator: ServerInterceptor {
    public let tokens: [String: Identity]
    /// The tokens' bytes, in a fixed order, for a comparison whose time does not depend on how
    /// much of a guess is right.
    private let known: [([UInt8], Identity)]

    public init(tokens: [String: Identity]) {
        self.tokens = tokens
        known = tokens.sorted { $0.key < $1.key }.map { (Array($0.key.utf8), $0.value) }
    }

    static let readMethods: Set<String> = ["Get", "List", "Watch"]

    public func intercept(
        _ context: ServerContext, next: @Sendable (ServerContext) async throws -> Void
    ) async throws {
        if context.method.service.hasPrefix("grpc.") { return try await next(context) }
        let identity = try authenticate(context.metadata.first("authorization"))
        if identity.access == .readOnly && !Self.readMethods.contains(context.method.method) {
            throw RegistryError.permissionDenied(identity: identity.name, method: "\(context.method.service)/\(context.method.method)")
        }
        try await next(context)
    }

    /// The identity of an `authorization` value: the scheme `Bearer` (any case), one or more
    /// spaces, the token (RFC 6750). Tabs count as spaces, and blanks before the scheme or after
    /// the token are ignored.
    func authenticate(_ header: String?) throws(RegistryError) -> Identity {
        guard let header else { throw .unauthenticated(reason: "missing authorization metadata: send \"Bearer <token>\"") }
        let parts = header.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw .unauthenticated(reason: "authorization metadata must be \"Bearer <token>\"")
        }
        guard let identity = lookUp(Array(parts[1].utf8)) else { throw .unauthenticated(reason: "unknown token") }
        return identity
    }

    /// The identity of `presented`, compared with every known token in full: the time taken
    /// depends on the tokens' lengths, not on where a wrong guess first differs (a dictionary
    /// lookup ends its comparison at the first differing byte).
    private func lookUp(_ presented: [UInt8]) -> Identity? {
        var found: Identity?
        for (token, identity) in known where Self.equalInConstantTime(token, presented) {
            found = identity
        }
        return found
    }

    static func equalInConstantTime(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference: UInt8 = a.count == b.count ? 0 : 1
        let count = max(a.count, b.count)
        for index in 0..<count {
            let x = index < a.count ? a[index] : 0
            let y = index < b.count ? b[index] : 0
            difference |= x ^ y
        }
        return difference == 0
    }
}

extension TokenAuthenticator {
    /// Why a token file cannot be used.
    public struct TokenFileError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The tokens of a token file: one `TOKEN,NAME[,read-only]` per line (the identity may call
    /// every method unless `read-only` is given); blank lines and lines starting with `#` are
    /// skipped, and spaces around each column are ignored. Every other shape, an empty token or
    /// name, and a token given twice are errors naming the line.
    public static func tokens(fromFile text: String) throws(TokenFileError) -> [String: Identity] {
        var tokens: [String: Identity] = [:]
        // Any line ending (a CRLF file is one Character per line end, not "\r" then "\n").
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = trimmed(raw)
            if line.isEmpty || line.hasPrefix("#") { continue }
            func fail(_ reason: String) -> TokenFileError { TokenFileError(description: "token file line \(index + 1): \(reason)") }
            let columns = line.split(separator: ",", omittingEmptySubsequences: false).map(trimmed)
            guard (2...3).contains(columns.count) else { throw fail("expected TOKEN,NAME or TOKEN,NAME,read-only") }
            let (token, name) = (columns[0], columns[1])
            guard !token.isEmpty, !token.contains(where: { $0 == " " || $0 == "\t" }) else {
                throw fail("the token must be one word, not empty")
            }
            guard !name.isEmpty else { throw fail("the name must not be empty") }
            var access = Identity.Access.readWrite
            if columns.count == 3 {
                guard columns[2] == "read-only" else { throw fail("the third column may only be read-only, got '\(columns[2])'") }
                access = .readOnly
            }
            guard tokens[token] == nil else { throw fail("this token was given before (for \(tokens[token]!.name))") }
            tokens[token] = Identity(name: name, access: access)
        }
        return tokens
    }

    /// `text` without white space at either end.
    private static func trimmed(_ text: Substring) -> String {
        guard let first = text.firstIndex(where: { !$0.isWhitespace }), let last = text.lastIndex(where: { !$0.isWhitespace })
        else { return "" }
        return String(text[first...last])
    }
}
