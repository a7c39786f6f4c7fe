import CapstanWire
internal import CapstanAPI

/// Decoding with gRPC's error conventions: an unparsable message is `INTERNAL`.
enum MessageCodec {
    static func decodeRequest<Message: WireMessage>(
        _ type: Message.Type,
        from bytes: [UInt8],
        path: String
    ) throws(RPCError) -> Message {
        do {
            return try Message(serializedBytes: bytes)
        } catch {
            throw RPCError(
                code: .internal,
                message: "could not parse the request to \(path) as \(Message.protoMessageName): \(error)"
            )
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
