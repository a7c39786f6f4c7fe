internal import CapstanRPC

/// The response half of a `ServerStream`, as the RPC core sees it. On the stream's loop thread
/// (the usual case: handler tasks prefer that loop) it acts at once; elsewhere it hops there.
struct ServerWriter: ServerStreamWriter, ServerCallControl {
    let stream: ServerStream

    func writeHeaders(_ metadata: Metadata) async throws {
        let stream = stream
        if stream.loop.inEventLoop {
            try stream.sendHeaders(metadata)
            return
        }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            stream.loop.execute {
                do {
                    try stream.sendHeaders(metadata)
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    func writeMessage(_ bytes: [UInt8]) async throws {
        let stream = stream
        if stream.loop.inEventLoop {
            guard try stream.enqueue(bytes) else { return }
            try Task.checkCancellation()
            try await waitForRoom(stream, enqueue: nil)
        } else {
            try await waitForRoom(stream) { () throws(RPCError) in _ = try stream.enqueue(bytes) }
        }
    }

    /// Queues the whole batch in one step (one hop when off the loop, one wake-up of the data
    /// provider), then waits as `writeMessage` does while the queue is over its mark. The batch
    /// may take the queue past the mark by its own size; the next write waits.
    func writeMessages(_ messages: [[UInt8]]) async throws {
        guard !messages.isEmpty else { return }
        let stream = stream
        if stream.loop.inEventLoop {
            guard try stream.enqueue(contentsOf: messages) else { return }
            try Task.checkCancellation()
            try await waitForRoom(stream, enqueue: nil)
        } else {
            try await waitForRoom(stream) { () throws(RPCError) in _ = try stream.enqueue(contentsOf: messages) }
        }
    }

    /// On the loop: queues with `enqueue` (unless already queued), then continues once the queue
    /// is below its mark. (Parking always happens on the loop.)
    private func waitForRoom(_ stream: ServerStream, enqueue: (@Sendable () throws(RPCError) -> Void)?) async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let park: @Sendable () -> Void = {
                    do {
                        try enqueue?()
                        stream.outbound.park(continuation)
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
                if stream.loop.inEventLoop { park() } else { stream.loop.execute(park) }
            }
        } onCancel: {
            stream.loop.execute { stream.outbound.cancelParked() }
        }
    }

    func finishUnary(headers: Metadata?, message: [UInt8], trailers: Metadata) async throws {
        try sendUnary(headers: headers, message: message, trailers: trailers)
    }

    func sendUnary(headers: Metadata?, message: [UInt8], trailers: Metadata) throws {
        let stream = stream
        if stream.loop.inEventLoop {
            try stream.respond(headers: headers, message: message, trailers: trailers)
        } else {
            // Nothing to wait for: the status follows the message whatever the peer's window. (A
            // response refused there reaches the call's observers only if they have not run yet:
            // handlers run on the loop, so this path is rare.)
            stream.loop.execute { try? stream.respond(headers: headers, message: message, trailers: trailers) }
        }
    }

    func finish(status: RPCStatus, details: [UInt8]?, trailers: Metadata) {
        let stream = stream
        if stream.loop.inEventLoop {
            stream.finish(status: status, details: details, trailers: trailers)
        } else {
            stream.loop.execute { stream.finish(status: status, details: details, trailers: trailers) }
        }
    }

    func attach(_ target: any ServerCallTarget, deadline: CallDeadline?) {
        let stream = stream
        if stream.loop.inEventLoop {
            stream.attach(target, deadline: deadline)
        } else {
            stream.loop.execute { stream.attach(target, deadline: deadline) }
        }
    }
}
