/// Opens outbound streams (for example HTTP/2 streams on a connection).
public protocol ClientTransport: Sendable {
    /// Starts a call to `path`. The transport sends `metadata` and the `deadline` (as
    /// `grpc-timeout`); the core enforces the deadline locally as well, unless the stream says
    /// the transport does (`enforcesDeadline`).
    func openStream(
        path: String,
        metadata: Metadata,
        deadline: ContinuousClock.Instant?
    ) async throws -> ClientTransportStream
}

/// One outbound call as the transport sees it.
public struct ClientTransportStream: Sendable {
    /// What the server sends, in order: at most one `.headers`, messages, then exactly one
    /// `.status` (a missing status is a broken stream). Throws `RPCError(.cancelled)` after
    /// `writer.cancel()`, and `CancellationError` when the reading task is cancelled.
    public var responses: any AsyncSequence<ClientResponsePart, any Error> & Sendable
    /// Where requests go.
    public var writer: any ClientStreamWriter
    /// The transport itself ends the stream when its deadline passes (resetting it and ending
    /// `responses` with `DEADLINE_EXCEEDED`), so the core need not run a timer of its own.
    public var enforcesDeadline: Bool
    /// The executor whose thread delivers `responses`, if the transport has one. A task reading
    /// the stream with this executor preferred (`withTaskExecutorPreference`) is resumed there
    /// without a hop to another thread.
    public var executor: (any TaskExecutor)?

    public init(
        responses: any AsyncSequence<ClientResponsePart, any Error> & Sendable,
        writer: any ClientStreamWriter,
        enforcesDeadline: Bool = false,
        executor: (any TaskExecutor)? = nil
    ) {
        self.responses = responses
        self.writer = writer
        self.enforcesDeadline = enforcesDeadline
        self.executor = executor
    }
}

/// One piece of a response stream.
public enum ClientResponsePart: Sendable, Hashable {
    case headers(Metadata)
    case message([UInt8])
    case status(RPCStatus, details: [UInt8]?, trailers: Metadata)
}

/// The request half of a client stream.
public protocol ClientStreamWriter: Sendable {
    /// Sends one message; suspends while the server cannot take more. Throws once the stream ended.
    func writeMessage(_ bytes: [UInt8]) async throws
    /// Half-closes: no more messages will follow.
    func closeSend()
    /// Resets the stream both ways (the server's handler is cancelled). Idempotent.
    func cancel()
}
