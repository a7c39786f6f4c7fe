internal import CapstanRPC

/// One inbound HTTP/2 stream on a server connection: its request headers, the deframer feeding
/// the handler's request messages, the outbound queue for the response, and the handler's task.
///
/// Safety of `@unchecked Sendable`: every `var` is read and written on the connection's loop
/// thread only; the writer (`ServerWriter`) checks `loop.inEventLoop` and otherwise hops there
/// with `loop.execute`. `inbox` is itself thread-safe.
final class ServerStream: @unchecked Sendable {
    let id: Int32
    let connection: ServerConnection
    var loop: EventLoop { connection.loop }

    var headers: [HeaderField] = []
    var deframer: GRPCDeframer
    let inbox: StreamInbox<[UInt8]>
    let outbound: StreamOutbound

    /// Received DATA bytes whose stream-level window was not yet returned.
    var uncredited = 0
    /// Request messages are accepted (a handler runs and the client has not half-closed).
    var accepting = false
    /// Response HEADERS were submitted.
    var responseStarted = false
    /// The response end (status or rejection) was decided; later writes and finishes are ignored.
    var finished = false
    /// nghttp2 closed the stream.
    var closed = false
    var task: Task<Void, Never>?

    init(id: Int32, connection: ServerConnection, maxMessageSize: Int, inboundHighWater: Int, outboundHighWater: Int) {
        self.id = id
        self.connection = connection
        deframer = GRPCDeframer(maxMessageSize: maxMessageSize)
        outbound = StreamOutbound(highWater: outboundHighWater)
        let loop = connection.loop
        // The inbox holds the stream weakly through this closure's capture of the id: the
        // connection looks the stream up again on its loop.
        inbox = StreamInbox(highWater: inboundHighWater) { [weak connection, id] in
            guard let connection else { return }
            loop.execute { connection.returnCredit(streamID: id) }
        }
    }

    // MARK: Response (loop thread)

    /// Submits the response HEADERS (with a body to follow).
    func sendHeaders(_ metadata: Metadata) throws(RPCError) {
        assert(loop.inEventLoop)
        guard !finished, !closed, !connection.isClosed else { throw Self.endedError }
        guard !responseStarted else { return }
        responseStarted = true
        do {
            try connection.session?.submitResponse(streamID: id, headers: GRPCResponseHeaders.headers(metadata: metadata), hasBody: true)
        } catch {
            throw RPCError(code: .internal, message: "could not send the response headers: \(error)")
        }
        connection.scheduleFlush()
    }

    /// Queues one response message. Returns whether the writer must wait for the queue to drain.
    func enqueue(_ message: [UInt8]) throws(RPCError) -> Bool {
        assert(loop.inEventLoop)
        guard !finished, !closed, !connection.isClosed else { throw Self.endedError }
        if !responseStarted { try sendHeaders(Metadata()) }
        outbound.appendMessage(message)
        resumeProvider()
        return outbound.queuedBytes > outbound.gate.highWater
    }

    /// Ends the response with a status: trailers after the queued messages, or a trailers-only
    /// response when nothing was sent. Writers still waiting fail.
    func finish(status: RPCStatus, details: [UInt8]?, trailers: Metadata) {
        assert(loop.inEventLoop)
        guard !finished else { return }
        finished = true
        outbound.gate.fail(RPCError(code: .failedPrecondition, message: "the call already ended with \(status.code)"))
        guard !closed, !connection.isClosed, let session = connection.session else { return }
        if responseStarted {
            outbound.setEnd(.trailers(GRPCResponseHeaders.trailers(status: status, details: details, metadata: trailers)))
            resumeProvider()
        } else {
            responseStarted = true
            let fields = GRPCResponseHeaders.trailersOnly(status: status, details: details, metadata: trailers)
            do {
                try session.submitResponse(streamID: id, headers: fields, hasBody: false)
            } catch {
                session.submitReset(streamID: id, errorCode: Nghttp2ErrorCode.internalError)
            }
        }
        connection.scheduleFlush()
    }

    /// Rejects a request that is not gRPC at all with a plain HTTP status and text body.
    func rejectHTTP(status: Int, message: String) {
        finished = true
        responseStarted = true
        guard let session = connection.session else { return }
        outbound.appendRaw(Array((message + "\n").utf8))
        outbound.setEnd(.endStream)
        let fields = [
            HeaderField(name: ":status", value: String(status)),
            HeaderField(name: "content-type", value: "text/plain; charset=utf-8"),
        ]
        do {
            try session.submitResponse(streamID: id, headers: fields, hasBody: true)
        } catch {
            session.submitReset(streamID: id, errorCode: Nghttp2ErrorCode.internalError)
        }
        connection.scheduleFlush()
    }

    /// Rejects a gRPC request with a trailers-only status.
    func rejectGRPC(_ status: RPCStatus, acceptEncoding: String?) {
        var fields = GRPCResponseHeaders.trailersOnly(status: status, details: nil, metadata: Metadata())
        if let acceptEncoding { fields.append(HeaderField(name: "grpc-accept-encoding", value: acceptEncoding)) }
        finished = true
        responseStarted = true
        guard let session = connection.session else { return }
        do {
            try session.submitResponse(streamID: id, headers: fields, hasBody: false)
        } catch {
            session.submitReset(streamID: id, errorCode: Nghttp2ErrorCode.internalError)
        }
        connection.scheduleFlush()
    }

    /// The transport ends the call itself (a corrupt or oversized request): the handler's reads
    /// fail, queued responses are dropped, the status goes out and the handler is cancelled.
    /// The stream is reset once the status is sent if the client is still sending.
    func abort(_ status: RPCStatus) {
        accepting = false
        inbox.fail(RPCError(code: status.code, message: status.message))
        outbound.clear()
        finish(status: status, details: nil, trailers: Metadata())
        task?.cancel()
    }

    /// The stream is gone before the response ended (reset by the client, or the connection was
    /// lost): reads and writes fail and the handler is cancelled.
    func cancelled(_ error: RPCError) {
        accepting = false
        inbox.fail(error)
        outbound.gate.fail(error)
        outbound.clear()
        if !finished {
            finished = true
            task?.cancel()
        }
    }

    /// Lets the data provider run again after it ran dry.
    private func resumeProvider() {
        if outbound.deferred {
            outbound.deferred = false
            connection.session?.resumeData(streamID: id)
        }
        connection.scheduleFlush()
    }

    static let endedError = RPCError(code: .unavailable, message: "the stream already ended")
}

/// HTTP/2 error codes used by the transport.
enum Nghttp2ErrorCode {
    static let noError: UInt32 = 0
    static let protocolError: UInt32 = 1
    static let internalError: UInt32 = 2
    static let refusedStream: UInt32 = 7
    static let cancel: UInt32 = 8
}
