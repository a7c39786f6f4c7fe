/// How many messages each side of a method sends.
public enum StreamingKind: String, Sendable, Hashable, CaseIterable {
    /// One request, one response.
    case unary
    /// One request, any number of responses.
    case serverStreaming
    /// Any number of requests, one response.
    case clientStreaming
    /// Any number of messages both ways.
    case bidirectional

    /// Whether the client sends exactly one message.
    public var isSingleRequest: Bool { self == .unary || self == .serverStreaming }
    /// Whether the server sends exactly one message.
    public var isSingleResponse: Bool { self == .unary || self == .clientStreaming }
}
