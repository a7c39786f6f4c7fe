public import CapstanWire

/// The response messages of a streaming call, decoded, pulled on demand (the server is held
/// back while nobody reads). Ends when the call ends with OK; throws the call's `RPCError`.
public struct ResponseMessages<Message: WireMessage>: AsyncSequence, Sendable {
    public typealias Element = Message

    let call: ClientCall

    public struct AsyncIterator: AsyncIteratorProtocol {
        let call: ClientCall

        public mutating func next() async throws -> Message? {
            guard let bytes = try await call.nextMessage() else { return nil }
            do {
                return try MessageCodec.decodeResponse(Message.self, from: bytes, path: call.path)
            } catch {
                call.cancel()
                throw error
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(call: call)
    }
}
