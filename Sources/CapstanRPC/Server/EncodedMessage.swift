public import CapstanWire

/// A response message already in its binary encoding, for servers that keep messages encoded
/// (the API server's watch cache) and would otherwise decode only to re-encode.
///
/// The bytes are not checked: whoever makes one promises they are a valid `Message` encoding.
/// Copies share the bytes (arrays are copy-on-write), so one encoding can go to many calls.
public struct EncodedMessage<Message: WireMessage>: Sendable, Hashable {
    public let bytes: [UInt8]

    /// Wraps `bytes`, which must be an encoding of `Message`.
    public init(unchecked bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Encodes `message`.
    public init(_ message: Message) {
        self.bytes = message.serializedBytes()
    }

    /// Decodes the message (for tests and for callers that need the fields).
    public func decoded() throws(WireError) -> Message {
        try Message(serializedBytes: bytes)
    }
}

extension ResponseStream {
    /// Sends one message given in its encoding; see `write(_:)`.
    public func write(_ message: EncodedMessage<Message>) async throws {
        try await call.writeMessage(message.bytes)
    }

    /// Sends messages given in their encoding, in order, in one hand-over to the transport;
    /// see `write(contentsOf:)`.
    public func write(contentsOf messages: [EncodedMessage<Message>]) async throws {
        var bytes: [[UInt8]] = []
        bytes.reserveCapacity(messages.count)
        for message in messages { bytes.append(message.bytes) }
        try await call.writeMessages(bytes)
    }
}

extension RPCRouter {
    /// Registers a unary method whose handler answers with an already-encoded response. The
    /// handler owns the decoded request (it may change it without copying it first): it is handed
    /// over with `consume`, since without it the request was copied and a handler's first change
    /// to one of its arrays copied that array too.
    public mutating func unaryEncoded<Req, Res>(
        _ m: MethodDescriptor<Req, Res>,
        _ handler: @escaping @Sendable (consuming Req, ServerContext) async throws -> EncodedMessage<Res>
    ) {
        let path = m.path
        let unary: UnaryHandler = { bytes, context in
            let request = try MessageCodec.decodeRequest(Req.self, from: bytes, path: path)
            return try await handler(consume request, context).bytes
        }
        register(m, .unary, Self.unaryHandler(m, unary), unary: unary)
    }

    /// As `unaryEncoded(_:_:)`, with an immediate handler tried first on transports that offer
    /// complete requests (see `ImmediateMethod`): it answers on the transport's thread, with no
    /// task, or returns `nil` before any effect, and then `handler` serves the call as usual.
    public mutating func unaryEncoded<Req, Res>(
        _ m: MethodDescriptor<Req, Res>,
        immediately: @escaping @Sendable (consuming Req, ServerContext) throws -> EncodedMessage<Res>?,
        _ handler: @escaping @Sendable (consuming Req, ServerContext) async throws -> EncodedMessage<Res>
    ) {
        let path = m.path
        let unary: UnaryHandler = { bytes, context in
            let request = try MessageCodec.decodeRequest(Req.self, from: bytes, path: path)
            return try await handler(consume request, context).bytes
        }
        let immediate: ImmediateHandler = { bytes, context in
            let request = try MessageCodec.decodeRequest(Req.self, from: bytes, path: path)
            return try immediately(consume request, context)?.bytes
        }
        register(m, .unary, Self.unaryHandler(m, unary), unary: unary, immediate: immediate)
    }
}
