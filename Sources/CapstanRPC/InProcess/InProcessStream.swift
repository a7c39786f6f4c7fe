import Synchronization

/// One in-memory stream: a bounded buffer each way plus the task serving it.
final class InProcessStream: Sendable {
    let path: String
    let metadata: Metadata
    let deadline: ContinuousClock.Instant?
    let requests: BoundedChannel<[UInt8]>
    let responses: BoundedChannel<ClientResponsePart>

    private struct Handling {
        var task: Task<Void, Never>?
        var cancelled = false
    }

    private let handling = Mutex(Handling())

    init(path: String, metadata: Metadata, deadline: ContinuousClock.Instant?, bufferSize: Int) {
        self.path = path
        self.metadata = metadata
        self.deadline = deadline
        requests = BoundedChannel(capacity: bufferSize)
        responses = BoundedChannel(capacity: bufferSize)
    }

    /// Runs `handler` for this stream in a task of its own, so the client can cancel it alone.
    func serve(_ handler: @escaping ServerStreamHandler) async {
        let serverStream = ServerTransportStream(
            path: path,
            metadata: metadata,
            deadline: deadline,
            peer: "in-process",
            requests: requests,
            writer: InProcessServerWriter(stream: self)
        )
        let task = Task { await handler(serverStream) }
        let cancelled = handling.withLock { handling in
            handling.task = task
            return handling.cancelled
        }
        if cancelled { task.cancel() }
        await withTaskCancellationHandler {
            await task.value
        } onCancel: {
            task.cancel()
        }
        // A handler that returned without a status leaves a broken stream; end it clearly.
        responses.finish(last: .status(
            RPCStatus(code: .internal, message: "the server ended the stream without a status"),
            details: nil,
            trailers: Metadata()
        ))
    }

    /// The client reset the stream: both directions fail and the serving task is cancelled.
    func cancelFromClient() {
        let error = RPCError(code: .cancelled, message: "the client cancelled the call")
        requests.fail(error)
        responses.fail(error)
        let task = handling.withLock { handling in
            handling.cancelled = true
            return handling.task
        }
        task?.cancel()
    }
}

struct InProcessClientWriter: ClientStreamWriter {
    let stream: InProcessStream

    func writeMessage(_ bytes: [UInt8]) async throws {
        try await stream.requests.send(bytes)
    }

    func closeSend() {
        stream.requests.finish()
    }

    func cancel() {
        stream.cancelFromClient()
    }
}

struct InProcessServerWriter: ServerStreamWriter {
    let stream: InProcessStream

    func writeHeaders(_ metadata: Metadata) async throws {
        try await stream.responses.send(.headers(metadata))
    }

    func writeMessage(_ bytes: [UInt8]) async throws {
        try await stream.responses.send(.message(bytes))
    }

    func finish(status: RPCStatus, details: [UInt8]?, trailers: Metadata) {
        stream.responses.finish(last: .status(status, details: details, trailers: trailers))
        // The server reads no more: pending and later client sends fail (the client reports
        // the status instead).
        stream.requests.fail(RPCError(code: .unavailable, message: "the server already ended the call"))
    }
}
