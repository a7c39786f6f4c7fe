public import CapstanWire

/// The response side of a server-streaming or bidirectional handler.
public struct ResponseStream<Message: WireMessage>: Sendable {
    let call: ServerCall

    init(call: ServerCall) {
        self.call = call
    }

    /// Sends one message, suspending while the client cannot take more.
    /// Throws once the call ended (finished, cancelled or past its deadline).
    /// Write from one task at a time.
    public func write(_ message: Message) async throws {
        try await call.writeMessage(message.serializedBytes())
    }
}
