internal import CapstanRPC

/// The tasks that run a server's handlers on one loop, reused from call to call.
///
/// A new `Task` per call costs an allocation for the task and, as its async frames grow, a
/// fresh stack slab or several (about 1 KiB each); a task that lives on keeps its slabs. So each
/// call goes to an idle worker — a task preferring this loop, parked between calls — or, when
/// none is idle, to a new one; a call never waits for a busy worker. A worker that finished its
/// call parks again (up to `maxIdle` idle workers; beyond that it ends). The stream holds the
/// worker's task while the call runs, so a peer reset or a passed deadline cancels it as before;
/// cancellation cannot be undone, so a cancelled worker ends after its call instead of parking.
/// `drain` (the transport shut down) ends the idle workers.
///
/// Safety of `@unchecked Sendable`: every stored property is touched on `loop`'s thread only;
/// workers hand back to the loop before touching them (see `callEnded`).
final class HandlerWorkers: @unchecked Sendable {
    /// One call to run: its stream and what the RPC core gets.
    struct Call: Sendable {
        let stream: ServerStream
        let transportStream: ServerTransportStream
        let handler: ServerStreamHandler
        let transport: HTTP2ServerTransport
    }

    /// A parked worker's way back in.
    private final class Worker: @unchecked Sendable {
        var task: Task<Void, Never>?
        var next: UnsafeContinuation<Call?, Never>?
        /// The call a new worker starts with, until it takes it (the task's closure holds the
        /// worker for the task's life, so a call captured there would stay alive as long).
        var first: Call?
    }

    let loop: EventLoop
    private let maxIdle: Int
    /// Loop thread only (see `ServerConnection.streams` on `@exclusivity(unchecked)`).
    @exclusivity(unchecked) private var idle: [Worker] = []
    private var draining = false

    init(loop: EventLoop, maxIdle: Int = 1024) {
        self.loop = loop
        self.maxIdle = maxIdle
    }

    /// Idle workers (for tests).
    var idleCount: Int {
        assert(loop.inEventLoop)
        return idle.count
    }

    /// Runs `call` on an idle worker or a new one. Loop thread only.
    func start(_ call: consuming Call) {
        assert(loop.inEventLoop)
        if let worker = idle.popLast(), let next = worker.next {
            worker.next = nil
            call.stream.task = worker.task
            next.resume(returning: call)
            return
        }
        startWorker(with: call)
    }

    private func startWorker(with call: Call) {
        let worker = Worker()
        worker.first = call
        let task = Task(executorPreference: loop) { [self] in
            await serve(worker)
        }
        worker.task = task
        call.stream.task = task
    }

    /// Ends the idle workers; from now on workers end after their call. Loop thread only.
    func drain() {
        assert(loop.inEventLoop)
        draining = true
        let parked = idle
        idle.removeAll()
        for worker in parked {
            let next = worker.next
            worker.next = nil
            next?.resume(returning: nil)
        }
    }

    /// A worker's life: its first call, then each call it is handed, until it ends (`nil` from
    /// the park: drained), or it ends after a call when cancelled, draining, off the loop or with
    /// enough idle workers. One flat function: every async function boundary between the task and
    /// the handler costs an executor check (`swift_task_switch`) per call.
    private func serve(_ worker: Worker) async {
        // `take()` moves each call out instead of copying it (a copy retains every reference the
        // call holds, and its release follows). (`first` was set before the task was created.)
        var current: Call? = worker.first.take()
        while current != nil {
            // The call's values end with this block, before the worker parks: a parked worker
            // must not keep the last call's stream (and whatever response it still queues) alive.
            do {
                guard let call = current.take() else { return }
                let (stream, transport) = (call.stream, call.transport)
                await call.handler(call.transportStream)
                // A handler that returned without a status leaves a broken stream: end it clearly.
                ServerWriter(stream: stream).finish(
                    status: RPCStatus(code: .internal, message: "the server ended the call without a status"),
                    details: nil, trailers: Metadata())
                guard loop.inEventLoop else {
                    // Only the loop touches the pool: hand the bookkeeping over and end this worker.
                    loop.execute { Self.release(stream: stream, transport: transport) }
                    return
                }
                Self.release(stream: stream, transport: transport)
            }
            guard !Task.isCancelled, !draining, idle.count < maxIdle else { return }
            // Resumed by `start` (which hands the stream this worker's task) or `drain`.
            current = await withUnsafeContinuation { (continuation: UnsafeContinuation<Call?, Never>) in
                worker.next = continuation
                idle.append(worker)
            }
        }
    }

    /// The stream no longer belongs to a running handler.
    private static func release(stream: ServerStream, transport: HTTP2ServerTransport) {
        stream.task = nil
        transport.handlerFinished()
    }
}
