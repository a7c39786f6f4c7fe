public import CapstanWire
internal import CapstanAPI

/// Decoding with gRPC's error conventions (an unparsable message is `INTERNAL`), and requests'
/// encoding.
@usableFromInline
enum MessageCodec {
    /// Decodes a request; `path` (the method's, for the error) is only built when it fails.
    /// Inlinable, so generated handlers (through `MethodDescriptor.decodeRequest`) decode their
    /// concrete type without generic dispatch.
    @inlinable
    static func decodeRequest<Message: WireMessage>(
        _ type: Message.Type,
        from bytes: [UInt8],
        path: @autoclosure () -> String
    ) throws(RPCError) -> Message {
        do {
            // Straight from the array's storage: `init(serializedBytes: [UInt8])` goes through a
            // `Result` whose generic metadata is looked up on every (unspecialized) call.
            return try bytes.withUnsafeBytes { raw in try Message(serializedBytes: raw) }
        } catch {
            throw unparsableRequest(Message.self, path: path(), error: error)
        }
    }

    /// The error for a request that does not parse as `type`.
    @usableFromInline
    static func unparsableRequest<Message: WireMessage>(_ type: Message.Type, path: String, error: any Error) -> RPCError {
        // Bytes that are not protobuf are INTERNAL, as gRPC's own servers answer them; valid
        // protobuf holding what Capstan cannot keep is the caller's to change.
        if let wire = error as? WireError, wire.code == .unsupported {
            return RPCError(code: .invalidArgument, message: "the request to \(path) cannot be accepted as sent: \(wire)")
        }
        return RPCError(code: .internal, message: "could not parse the request to \(path) as \(Message.protoMessageName): \(error)")
    }

    /// Encodes a request; a message protobuf-c would change (a string holding a NUL byte) is
    /// refused with `INVALID_ARGUMENT` before anything is sent.
    static func encodeRequest<Message: WireMessage>(
        _ message: Message, path: @autoclosure () -> String
    ) throws(RPCError) -> [UInt8] {
        do {
            return try message.wholeSerializedBytes()
        } catch {
            throw RPCError(code: .invalidArgument, message: "the request to \(path()) cannot be sent: \(error)")
        }
    }

    static func decodeResponse<Message: WireMessage>(
        _ type: Message.Type,
        from bytes: [UInt8],
        path: String
    ) throws(RPCError) -> Message {
        do {
            return try Message(serializedBytes: bytes)
        } catch {
            throw RPCError(
                code: .internal,
                message: "could not parse the response from \(path) as \(Message.protoMessageName): \(error)"
            )
        }
    }
}
