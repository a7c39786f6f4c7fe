import Synchronization

/// Read connections, each owned by its own thread, serving read jobs from one queue. In WAL mode
/// each job's queries see a snapshot of committed data and never wait for the writer.
final class ReaderPool: Sendable {
    /// A job gets the thread's connection, or nil when the pool is closing (it must then fail).
    typealias Job = @Sendable (Connection?) -> Void

    private struct State {
        var jobs = FIFO<Job>()
        var closed = false
    }

    private let state = Mutex(State())
    private let signal = ThreadSignal()
    private let threads = ThreadGroup()
    private let count: Int

    private init(count: Int) {
        self.count = count
    }

    /// Opens `count` connections to `path` (through the VFS named `vfs`), each on its own thread;
    /// throws the first failure.
    static func open(path: String, count: Int, vfs: String?) async throws(StoreError) -> ReaderPool {
        let pool = ReaderPool(count: max(1, count))
        var failure: StoreError?
        for index in 0..<pool.count {
            let opened: Result<Void, StoreError> = await withCheckedContinuation { continuation in
                pool.threads.start(name: "store-reader-\(index)") {
                    pool.run(path: path, vfs: vfs, opened: continuation)
                }
            }
            if case .failure(let error) = opened {
                failure = error
                break
            }
        }
        if let failure {
            await pool.close()
            throw failure
        }
        return pool
    }

    /// Runs `body` on a reader thread with its connection.
    func read<T: Sendable>(_ body: @escaping @Sendable (Connection) throws(StoreError) -> T) async throws(StoreError)
        -> T
    {
        let result: Result<T, StoreError> = await withCheckedContinuation { continuation in
            let job: Job = { connection in
                guard let connection else {
                    continuation.resume(returning: .failure(.unavailable(reason: "the store is closed")))
                    return
                }
                do throws(StoreError) {
                    continuation.resume(returning: .success(try body(connection)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            let accepted = state.withLock { state in
                if state.closed { return false }
                state.jobs.append(job)
                return true
            }
            if accepted { signal.signal() } else { job(nil) }
        }
        return try result.get()
    }

    /// Fails queued jobs, stops the threads and closes their connections.
    func close() async {
        state.withLock { $0.closed = true }
        for _ in 0..<count { signal.signal() }
        await threads.waitUntilFinished()
    }

    /// A reader thread's life: open, serve jobs until closed, close.
    private func run(path: String, vfs: String?, opened: CheckedContinuation<Result<Void, StoreError>, Never>) {
        let connection: Connection
        do throws(StoreError) {
            connection = try Connection(path: path, create: false, vfs: vfs)
        } catch {
            opened.resume(returning: .failure(error))
            return
        }
        do throws(StoreError) {
            try connection.execute(Schema.connectionPragmas + "PRAGMA query_only = 1;")
        } catch {
            // Opened, so it holds the database's files: closed here, or they outlive the failed open.
            connection.close()
            opened.resume(returning: .failure(error))
            return
        }
        opened.resume(returning: .success(()))
        // One job per pass; after `close` the queue is drained with nil connections.
        while true {
            let (job, closed) = state.withLock { state in (state.jobs.popFirst(), state.closed) }
            if let job {
                job(closed ? nil : connection)
                continue
            }
            if closed { break }
            signal.wait(timeout: nil)
        }
        connection.close()
    }
}
