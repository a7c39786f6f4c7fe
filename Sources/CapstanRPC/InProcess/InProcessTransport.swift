/// A client and a server transport connected in memory, for tests.
///
/// Each stream has two bounded buffers of `bufferSize` parts, so a writer that outpaces its
/// reader suspends, as it would under HTTP/2 flow control; cancellation crosses like RST_STREAM.
public struct InProcessTransport: Sendable {
    public let client: Client
    public let server: Server

    public init(bufferSize: Int = 16) {
        precondition(bufferSize > 0, "bufferSize must be positive")
        server = Server()
        client = Client(server: server, bufferSize: bufferSize)
    }

    /// The server half: serve it with `RPCServer.serve(on:)`.
    public final class Server: ServerTransport {
        let accepted = BoundedChannel<InProcessStream>(
            capacity: .max,
            closedError: RPCError(code: .unavailable, message: "the in-process server is shutting down")
        )

        init() {}

        public func listen(_ handler: @escaping ServerStreamHandler) async throws {
            await withDiscardingTaskGroup { group in
                while let stream = try? await accepted.next() {
                    group.addTask { await stream.serve(handler) }
                }
            }
        }

        public func beginGracefulShutdown() {
            accepted.finish()
        }
    }

    /// The client half: give it to `RPCClient`.
    public struct Client: ClientTransport {
        let server: Server
        let bufferSize: Int

        public func openStream(
            path: String,
            metadata: Metadata,
            deadline: ContinuousClock.Instant?
        ) async throws -> ClientTransportStream {
            let stream = InProcessStream(path: path, metadata: metadata, deadline: deadline, bufferSize: bufferSize)
            try await server.accepted.send(stream)
            return ClientTransportStream(responses: stream.responses, writer: InProcessClientWriter(stream: stream))
        }
    }
}
