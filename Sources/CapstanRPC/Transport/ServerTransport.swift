/// Accepts inbound streams (for example HTTP/2 streams) and hands them to the core.
public protocol ServerTransport: Sendable {
    /// Accepts streams until shut down, calling `handler` for each in its own task.
    ///
    /// When the peer resets a stream the transport cancels the task running its handler.
    /// Returns once shut down and every handler has returned. `handler` runs on the executor of
    /// the task that calls it (`nonisolated(nonsending)`): no executor hop on entry.
    func listen(_ handler: @escaping ServerStreamHandler) async throws

    /// Stops accepting new streams; streams in flight run to completion.
    func beginGracefulShutdown()
}

/// What a `ServerTransport` runs for each inbound stream, in the stream's task and on that
/// task's executor (no hop on entry).
public typealias ServerStreamHandler = nonisolated(nonsending) @Sendable (ServerTransportStream) async -> Void

/// One inbound call as the transport sees it: bytes only, no HTTP/2.
public struct ServerTransportStream: Sendable {
    /// The method path, e.g. `/capstan.v1.Pods/Create`.
    public var path: String
    /// Custom request metadata (transport headers such as `grpc-timeout` already removed).
    public var metadata: Metadata
    /// When the client stops waiting, if it set a deadline.
    public var deadline: ContinuousClock.Instant? {
        get { callDeadline?.instant }
        set { callDeadline = newValue.map(CallDeadline.init) }
    }
    /// The same, stored in a frozen form (see `CallDeadline`).
    package var callDeadline: CallDeadline?
    /// Who called, for logs (e.g. `ipv4:127.0.0.1:51234`).
    public var peer: String
    /// Request message bytes. Pulled on demand (back-pressure); ends when the client half-closes;
    /// throws `RPCError(.cancelled)` when the peer resets the stream, and `CancellationError` when
    /// the reading task is cancelled.
    public var requests: any AsyncSequence<[UInt8], any Error> & Sendable
    /// Where the response goes.
    public var writer: any ServerStreamWriter
    /// The same request messages, readable without suspending once the client half-closed (set
    /// by transports that buffer them; the core's unary fast path takes the one request from it).
    package var immediateRequests: (any ImmediateRequestSource)?
    /// Set by transports that tell the core themselves when the peer cancels the call and that
    /// enforce its deadline on their own timers (see `ServerCallControl`); the core then needs no
    /// cancellation handler, task group or sleeping task per call.
    package var callControl: (any ServerCallControl)?
    /// The transport already answered the call with this status (a request it rejected: an
    /// unsupported encoding, a malformed `grpc-timeout` or metadata, a corrupt or oversized
    /// message): the core runs no handler and only tells its observers.
    package var rejection: RPCStatus?

    public init(
        path: String,
        metadata: Metadata,
        deadline: ContinuousClock.Instant?,
        peer: String,
        requests: any AsyncSequence<[UInt8], any Error> & Sendable,
        writer: any ServerStreamWriter
    ) {
        self.init(
            path: path, metadata: metadata, deadline: deadline.map(CallDeadline.init), peer: peer, requests: requests,
            writer: writer, immediateRequests: nil, callControl: nil)
    }

    /// A stream whose transport also offers buffered requests and call control.
    package init(
        path: String,
        metadata: Metadata,
        deadline: CallDeadline?,
        peer: String,
        requests: any AsyncSequence<[UInt8], any Error> & Sendable,
        writer: any ServerStreamWriter,
        immediateRequests: (any ImmediateRequestSource)?,
        callControl: (any ServerCallControl)?,
        rejection: RPCStatus? = nil
    ) {
        self.path = path
        self.metadata = metadata
        callDeadline = deadline
        self.peer = peer
        self.requests = requests
        self.writer = writer
        self.immediateRequests = immediateRequests
        self.callControl = callControl
        self.rejection = rejection
    }
}

/// The response half of a server stream. The core calls `writeHeaders` at most once and only
/// before the first message (never for a trailers-only response), and `finish` exactly once.
public protocol ServerStreamWriter: Sendable {
    /// Sends the response headers.
    func writeHeaders(_ metadata: Metadata) async throws
    /// Sends one message; suspends while the peer cannot take more. Throws once the stream ended.
    func writeMessage(_ bytes: [UInt8]) async throws
    /// Sends several messages in order, as `writeMessage` for each would, but lets the transport
    /// queue them in one step (one hop, one wake-up of its output). Suspends while the peer cannot
    /// take more; throws once the stream ended (messages before the failure may have been sent).
    /// The default calls `writeMessage` for each.
    func writeMessages(_ messages: [[UInt8]]) async throws
    /// Ends the stream with its status, `grpc-status-details-bin` bytes and trailers.
    /// Must not wait for pending writes: they fail, and the status follows the messages already sent.
    func finish(status: RPCStatus, details: [UInt8]?, trailers: Metadata)
    /// Ends a call that answers with exactly one message and OK: the headers (unless `nil`: already
    /// sent), the message and the trailers, in one go. Need not wait until the peer takes the message.
    /// The default calls `writeHeaders`, `writeMessage` and `finish`.
    func finishUnary(headers: Metadata?, message: [UInt8], trailers: Metadata) async throws
}

extension ServerStreamWriter {
    public func writeMessages(_ messages: [[UInt8]]) async throws {
        for message in messages { try await writeMessage(message) }
    }

    public func finishUnary(headers: Metadata?, message: [UInt8], trailers: Metadata) async throws {
        do {
            if let headers { try await writeHeaders(headers) }
            try await writeMessage(message)
        } catch {
            // The call still ends exactly once, with what went wrong.
            let failure = RPCError(converting: error)
            finish(status: failure.status, details: failure.details, trailers: failure.trailers)
            throw error
        }
        finish(status: .ok, details: nil, trailers: trailers)
    }
}

/// What an `ImmediateRequestSource` holds of a call's request messages.
package enum ImmediateRequests: Sendable {
    /// The client has not half-closed yet: read `requests` instead.
    case pending
    /// The client half-closed after exactly this one message.
    case one([UInt8])
    /// The client half-closed after no message.
    case none
    /// The client half-closed after more than one message.
    case several
}

/// Request messages a transport buffered, readable without suspending (see `ServerTransportStream`).
package protocol ImmediateRequestSource: Sendable {
    /// Takes the single request if the client already half-closed; throws as `requests` would
    /// (the stream was reset or its request was malformed).
    func takeImmediately() throws -> ImmediateRequests
}

/// What the core hands a transport that controls a call's cancellation (`ServerCallControl`).
package protocol ServerCallTarget: AnyObject, Sendable {
    /// The peer ended the call at `at`: it reset the stream, or closed or reset its connection.
    /// The call ends `CANCELLED` (unless it already ended), whatever its handler then makes of
    /// the failed reads and writes, as gRPC servers record a call the client abandoned; or
    /// `DEADLINE_EXCEEDED` when `at` is within `ServerCall.deadlineCancelSlack` of the call's
    /// deadline or after it (the client's deadline passed). The transport cancels the task
    /// serving the stream right after.
    func peerCancelled(at: ContinuousClock.Instant)
    /// The server's side closed the connection (it is shutting down): the call is cancelled and
    /// ends `UNAVAILABLE` unless it ended before; the transport cancels the task serving the
    /// stream right after.
    func connectionShutDown()
    /// The transport answered the call itself with `status` (a corrupt or oversized request): the
    /// call ends with it, as the client got it; the transport cancels the task serving the
    /// stream right after.
    func transportEnded(_ status: RPCStatus)
    /// The transport refused to queue the call's response and answered `status` instead (its
    /// client holds too many responses unread): the call ends with it even if its handler had
    /// already ended it OK with that response, since the client never gets the response.
    func responseRefused(_ status: RPCStatus)
    /// The deadline passed before the call ended; the transport cancels the task serving the
    /// stream right after.
    func deadlinePassed()
}

/// A transport's cancellation and deadline service for one server stream.
package protocol ServerCallControl: Sendable {
    /// From now on, tells `target` when the peer cancels the call and, with a `deadline` (which
    /// must still be ahead), when it passes, each time before the transport cancels the task
    /// serving the stream. The deadline stops counting once the response ended. If the peer
    /// cancelled before this call, `target` hears of it at once. Called at most once per stream,
    /// from the task serving it.
    func attach(_ target: any ServerCallTarget, deadline: CallDeadline?)

    /// `ServerStreamWriter.finishUnary` without suspending: hands headers, message and OK
    /// trailers to the transport, which sends them whatever the peer's window. Throws when the
    /// stream already ended (as far as the calling thread can tell).
    func sendUnary(headers: Metadata?, message: [UInt8], trailers: Metadata) throws
}
