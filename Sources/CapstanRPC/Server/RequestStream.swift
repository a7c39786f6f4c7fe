public import CapstanWire

/// The request messages of a client-streaming or bidirectional call, pulled on demand
/// (the client is held back while the handler does not read). Iterate it once.
///
/// Ends when the client half-closes; throws when the call is cancelled and `RPCError(.internal)`
/// for a message that cannot be parsed.
public struct RequestStream<Message: WireMessage>: AsyncSequence, Sendable {
    public typealias Element = Message

    private let raw: any AsyncSequence<[UInt8], any Error> & Sendable
    private let path: String
    private let call: ServerCall

    init(raw: any AsyncSequence<[UInt8], any Error> & Sendable, call: ServerCall, path: String) {
        self.raw = raw
        self.call = call
        self.path = path
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        private var base: any AsyncIteratorProtocol<[UInt8], any Error>
        private let path: String
        private let call: ServerCall

        init(base: any AsyncIteratorProtocol<[UInt8], any Error>, call: ServerCall, path: String) {
            self.base = base
            self.call = call
            self.path = path
        }

        public mutating func next() async throws -> Message? {
            guard let bytes = try await base.next() else { return nil }
            call.countReceived()
            return try MessageCodec.decodeRequest(Message.self, from: bytes, path: path)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: raw.makeAsyncIterator(), call: call, path: path)
    }
}
