import Synchronization

/// A multi-producer multi-consumer queue holding at most `capacity` elements: `send` suspends
/// while it is full, `next` while it is empty. Both are cancellation-aware.
///
/// `finish(last:)` ends it gracefully (buffered elements are still delivered, then `nil`);
/// `fail(_:)` ends it abortively (buffer dropped, every waiter and later call gets the error).
final class BoundedChannel<Element: Sendable>: Sendable {
    private struct Waiter<Value> {
        let id: UInt64
        let continuation: CheckedContinuation<Value, any Error>
    }

    private struct PendingSend {
        let element: Element
        let waiter: Waiter<Void>
    }

    private enum End {
        case finished
        case failed(any Error)
    }

    private struct State {
        var buffer = FIFO<Element>()
        var senders: [PendingSend] = []
        var receivers: [Waiter<Element?>] = []
        var end: End?
        var nextID: UInt64 = 0
        /// Waiters about to suspend, and whether their task was cancelled meanwhile.
        var registering: [UInt64: Bool] = [:]
    }

    /// A deferred continuation resumption, performed outside the lock.
    private typealias Resume = @Sendable () -> Void

    private enum SendStep { case done, deliver(Resume), fail(any Error), wait(UInt64) }
    private enum ReceiveStep { case value(Element?, Resume?), fail(any Error), wait(UInt64) }

    let capacity: Int
    private let state = Mutex(State())

    /// The error `send` throws once the channel was finished.
    private let closedError: RPCError

    init(capacity: Int, closedError: RPCError = RPCError(code: .unavailable, message: "the stream is closed")) {
        precondition(capacity > 0, "a BoundedChannel needs room for at least one element")
        self.capacity = capacity
        self.closedError = closedError
    }

    /// Number of buffered elements (for tests and diagnostics).
    var bufferedCount: Int { state.withLock { $0.buffer.count } }

    // MARK: Sending

    func send(_ element: Element) async throws {
        let fast: SendStep = state.withLock { state in
            if let outcome = Self.tryEnqueue(element, into: &state, closedError: closedError, capacity: capacity) {
                switch outcome {
                case .success(let resume): return resume.map(SendStep.deliver) ?? .done
                case .failure(let error): return .fail(error)
                }
            }
            let id = state.nextID
            state.nextID += 1
            state.registering[id] = false
            return .wait(id)
        }
        switch fast {
        case .done: return
        case .deliver(let resume): resume(); return
        case .fail(let error): throw error
        case .wait(let id): try await waitToSend(element, id: id)
        }
    }

    private func waitToSend(_ element: Element, id: UInt64) async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resume: Resume? = state.withLock { state in
                    let cancelled = state.registering.removeValue(forKey: id) ?? false
                    if cancelled { return { continuation.resume(throwing: CancellationError()) } }
                    if let outcome = Self.tryEnqueue(element, into: &state, closedError: closedError, capacity: capacity) {
                        switch outcome {
                        case .success(let deliver): return { deliver?(); continuation.resume() }
                        case .failure(let error): return { continuation.resume(throwing: error) }
                        }
                    }
                    state.senders.append(PendingSend(element: element, waiter: Waiter(id: id, continuation: continuation)))
                    return nil
                }
                resume?()
            }
        } onCancel: {
            let waiter: Waiter<Void>? = state.withLock { state in
                if let index = state.senders.firstIndex(where: { $0.waiter.id == id }) {
                    return state.senders.remove(at: index).waiter
                }
                if state.registering[id] != nil { state.registering[id] = true }
                return nil
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Hands `element` to a waiting receiver or buffers it; `nil` when the caller must wait.
    private static func tryEnqueue(
        _ element: Element,
        into state: inout State,
        closedError: RPCError,
        capacity: Int
    ) -> Result<Resume?, any Error>? {
        switch state.end {
        case .finished: return .failure(closedError)
        case .failed(let error): return .failure(error)
        case nil: break
        }
        if !state.receivers.isEmpty {
            let receiver = state.receivers.removeFirst()
            return .success { receiver.continuation.resume(returning: element) }
        }
        if state.buffer.count < capacity {
            state.buffer.append(element)
            return .success(nil)
        }
        return nil
    }

    // MARK: Receiving

    /// The next element; `nil` once finished and drained.
    func next() async throws -> Element? {
        let fast: ReceiveStep = state.withLock { state in
            if let outcome = Self.tryDequeue(from: &state) {
                switch outcome {
                case .success(let (element, resume)): return .value(element, resume)
                case .failure(let error): return .fail(error)
                }
            }
            let id = state.nextID
            state.nextID += 1
            state.registering[id] = false
            return .wait(id)
        }
        switch fast {
        case .value(let element, let resume):
            resume?()
            return element
        case .fail(let error):
            throw error
        case .wait(let id):
            return try await waitToReceive(id: id)
        }
    }

    private func waitToReceive(id: UInt64) async throws -> Element? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Element?, any Error>) in
                let resume: Resume? = state.withLock { state in
                    let cancelled = state.registering.removeValue(forKey: id) ?? false
                    if cancelled { return { continuation.resume(throwing: CancellationError()) } }
                    if let outcome = Self.tryDequeue(from: &state) {
                        switch outcome {
                        case .success(let (element, wake)): return { wake?(); continuation.resume(returning: element) }
                        case .failure(let error): return { continuation.resume(throwing: error) }
                        }
                    }
                    state.receivers.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                resume?()
            }
        } onCancel: {
            let waiter: Waiter<Element?>? = state.withLock { state in
                if let index = state.receivers.firstIndex(where: { $0.id == id }) {
                    return state.receivers.remove(at: index)
                }
                if state.registering[id] != nil { state.registering[id] = true }
                return nil
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Takes the oldest element (refilling from a waiting sender), or reports the end;
    /// `nil` when the caller must wait.
    private static func tryDequeue(from state: inout State) -> Result<(Element?, Resume?), any Error>? {
        if let element = state.buffer.popFirst() {
            guard !state.senders.isEmpty else { return .success((element, nil)) }
            let sender = state.senders.removeFirst()
            state.buffer.append(sender.element)
            return .success((element, { sender.waiter.continuation.resume() }))
        }
        switch state.end {
        case .finished: return .success((nil, nil))
        case .failed(let error): return .failure(error)
        case nil: return nil
        }
    }

    // MARK: Ending

    /// Ends gracefully after `last` (which may exceed the capacity). Pending senders fail.
    func finish(last: Element? = nil) {
        let resumes: [Resume] = state.withLock { state in
            guard state.end == nil else { return [] }
            state.end = .finished
            var resumes: [Resume] = []
            if let last {
                if !state.receivers.isEmpty {
                    let receiver = state.receivers.removeFirst()
                    resumes.append { receiver.continuation.resume(returning: last) }
                } else {
                    state.buffer.append(last)
                }
            }
            let closedError = self.closedError
            for sender in state.senders {
                resumes.append { sender.waiter.continuation.resume(throwing: closedError) }
            }
            state.senders.removeAll()
            for receiver in state.receivers {
                resumes.append { receiver.continuation.resume(returning: nil) }
            }
            state.receivers.removeAll()
            return resumes
        }
        for resume in resumes { resume() }
    }

    /// Ends abortively: drops the buffer; every waiter and every later call gets `error`.
    func fail(_ error: any Error) {
        let resumes: [Resume] = state.withLock { state in
            if case .failed = state.end { return [] }
            state.end = .failed(error)
            state.buffer.removeAll()
            var resumes: [Resume] = []
            for sender in state.senders {
                resumes.append { sender.waiter.continuation.resume(throwing: error) }
            }
            state.senders.removeAll()
            for receiver in state.receivers {
                resumes.append { receiver.continuation.resume(throwing: error) }
            }
            state.receivers.removeAll()
            return resumes
        }
        for resume in resumes { resume() }
    }
}

extension BoundedChannel: AsyncSequence {
    struct AsyncIterator: AsyncIteratorProtocol {
        let channel: BoundedChannel
        mutating func next() async throws -> Element? { try await channel.next() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(channel: self) }
}
