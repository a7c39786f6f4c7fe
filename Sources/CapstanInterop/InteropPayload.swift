import CapstanRPC

/// The payloads interop calls carry: bodies of zero bytes of a requested size.
public enum InteropPayload {
    /// The largest payload the test service builds (4 MiB, gRPC's default limit for a received
    /// message, so a default gRPC client would refuse anything larger anyway). It keeps one
    /// request from making the server allocate up to 2 GiB; the interop cases ask for 314159
    /// bytes at most.
    public static let maximumSize = 4 * 1024 * 1024

    /// A `COMPRESSABLE` payload of `size` zero bytes, as clients send.
    public static func zeros(count size: Int) -> Grpc_Testing_Payload {
        var payload = Grpc_Testing_Payload()
        payload.type = .compressable
        payload.body = [UInt8](repeating: 0, count: size)
        return payload
    }

    /// The payload a server builds for a requested `type` and `size`, after `check`.
    static func zeros(type: Grpc_Testing_PayloadType, size: Int32) throws(RPCError) -> Grpc_Testing_Payload {
        try check(type: type, size: size)
        return zeros(count: Int(size))
    }

    /// Refuses what gRPC's interop servers refuse: a payload type other than `COMPRESSABLE` and a
    /// negative size (`INVALID_ARGUMENT`), plus sizes over `maximumSize` (`RESOURCE_EXHAUSTED`).
    static func check(type: Grpc_Testing_PayloadType, size: Int32) throws(RPCError) {
        guard case .compressable = type else {
            throw RPCError(
                code: .invalidArgument,
                message: "payload type \(type.rawValue) is not supported: only COMPRESSABLE (0) is"
            )
        }
        guard size >= 0 else {
            throw RPCError(code: .invalidArgument, message: "a response payload cannot have the negative size \(size)")
        }
        guard Int(size) <= maximumSize else {
            throw RPCError(
                code: .resourceExhausted,
                message: "a response payload of \(size) bytes exceeds this server's limit of \(maximumSize) bytes"
            )
        }
    }
}
