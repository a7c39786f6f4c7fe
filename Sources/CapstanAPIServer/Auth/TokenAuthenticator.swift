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

    public init(tokens: [String: Identity]) {
        self.tokens = tokens
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

    private func authenticate(_ header: String?) throws(RegistryError) -> Identity {
        guard let header else { throw .unauthenticated(reason: "missing authorization metadata: send \"Bearer <token>\"") }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw .unauthenticated(reason: "authorization metadata must be \"Bearer <token>\"")
        }
        guard let identity = tokens[String(parts[1])] else { throw .unauthenticated(reason: "unknown token") }
        return identity
    }
}
