public import CapstanWire

/// The response side of a server-streaming or bidirectional handler.
public struct ResponseStream<Message: WireMessage>: Sendable {
    let call: ServerCall

    init(call: ServerCall) {
        self.call = call
    }

    /// Sends the response headers now, if no message has carried them yet: a client waiting for
    /// the call to be accepted (a watch in place) learns it before the first message, which may
    /// be long in coming. Throws once the call ended.
    public func sendHeaders() async throws {
        try await call.sendHeaders()
    }

    /// Sends one message, suspending while the client cannot take more.
    /// Throws once the call ended (finished, cancelled or past its deadline).
    /// Write from one task at a time.
    public func write(_ message: Message) async throws {
        try await call.writeMessage(message.serializedBytes())
    }

    /// Sends `messages` in order, as `write` for each would, but hands them to the transport
    /// in one step (over HTTP/2: queued together and framed in as few DATA frames as fit).
    /// Suspends while the client cannot take more; throws once the call ended, possibly after
    /// some of the messages went out. Write from one task at a time.
    public func write(contentsOf messages: some Sequence<Message>) async throws {
        var bytes: [[UInt8]] = []
        bytes.reserveCapacity(messages.underestimatedCount)
        for message in messages { bytes.append(message.serializedBytes()) }
        try await call.writeMessages(bytes)
    }
}
