import Synchronization

/// Inbound elements of one stream (request messages on a server, response parts on a client),
/// pushed by the loop and pulled by one reader on any thread.
///
/// Back-pressure: the loop returns a stream's flow-control window (WINDOW_UPDATE) only while
/// fewer than `highWater` bytes of complete messages wait here (`admitsCredit`); once the reader
/// pulls the buffer below that mark again, `onRoom` asks the loop to return what it withheld.
/// So a reader that stops pulling stops the peer after at most one window more.
final class StreamInbox<Element: Sendable>: AsyncSequence, Sendable {
    private enum End {
        case finished
        case failed(any Error)
    }

    private struct State {
        var buffer: [(element: Element, bytes: Int)] = []
        var head = 0
        var bufferedBytes = 0
        var end: End?
        var waiter: CheckedContinuation<Element?, any Error>?
        var waiterID: UInt64 = 0
        /// The id of a wait whose task was cancelled before it parked.
        var cancelledID: UInt64?
        var creditWithheld = false
    }

    let highWater: Int
    private let state = Mutex(State())
    /// Runs (on the reader's thread) when a pull made room after credit was withheld.
    private let onRoom: @Sendable () -> Void

    init(highWater: Int, onRoom: @escaping @Sendable () -> Void) {
        self.highWater = highWater
        self.onRoom = onRoom
    }

    // MARK: Loop side

    /// Delivers an element that accounts for `bytes` of flow-control window.
    func push(_ element: Element, bytes: Int) {
        let waiter: CheckedContinuation<Element?, any Error>? = state.withLock { state in
            guard state.end == nil else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.buffer.append((element, bytes))
            state.bufferedBytes += bytes
            return nil
        }
        waiter?.resume(returning: element)
    }

    /// Whether the loop may return window now; if not, `onRoom` fires once the reader made room.
    func admitsCredit() -> Bool {
        state.withLock { state in
            if state.bufferedBytes < highWater {
                state.creditWithheld = false
                return true
            }
            state.creditWithheld = true
            return false
        }
    }

    /// No more elements: the reader gets what is buffered, then the end.
    func finish() {
        end(.finished)
    }

    /// Ends abortively: the buffer is dropped and the reader gets `error` (unless already ended).
    func fail(_ error: any Error) {
        end(.failed(error))
    }

    private func end(_ end: End) {
        let waiter: CheckedContinuation<Element?, any Error>? = state.withLock { state in
            guard state.end == nil else { return nil }
            state.end = end
            if case .failed = end {
                state.buffer.removeAll()
                state.head = 0
                state.bufferedBytes = 0
            }
            defer { state.waiter = nil }
            return state.waiter
        }
        switch end {
        case .finished: waiter?.resume(returning: nil)
        case .failed(let error): waiter?.resume(throwing: error)
        }
    }

    /// Whether the stream ended (finished or failed).
    var isEnded: Bool { state.withLock { $0.end != nil } }

    // MARK: Reader side

    private enum Step {
        case element(Element, room: Bool)
        case end
        case fail(any Error)
        case wait(UInt64)
    }

    /// Takes the oldest buffered element; `room` when credit was withheld and may flow again.
    private func pop(_ state: inout State) -> (element: Element, room: Bool)? {
        guard state.head < state.buffer.count else { return nil }
        let (element, bytes) = state.buffer[state.head]
        state.head += 1
        if state.head == state.buffer.count {
            state.buffer.removeAll(keepingCapacity: true)
            state.head = 0
        } else if state.head >= 32, state.head * 2 >= state.buffer.count {
            state.buffer.removeFirst(state.head)
            state.head = 0
        }
        state.bufferedBytes -= bytes
        var room = false
        if state.creditWithheld, state.bufferedBytes < highWater {
            state.creditWithheld = false
            room = true
        }
        return (element, room)
    }

    func next() async throws -> Element? {
        let step: Step = state.withLock { state in
            if let (element, room) = pop(&state) { return .element(element, room: room) }
            switch state.end {
            case .finished?: return .end
            case .failed(let error)?: return .fail(error)
            case nil:
                state.waiterID += 1
                return .wait(state.waiterID)
            }
        }
        switch step {
        case .element(let element, let room):
            if room { onRoom() }
            return element
        case .end:
            return nil
        case .fail(let error):
            throw error
        case .wait(let id):
            return try await wait(id: id)
        }
    }

    private func wait(id: UInt64) async throws -> Element? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Element?, any Error>) in
                let step: Step = state.withLock { state in
                    if state.cancelledID == id {
                        state.cancelledID = nil
                        return .fail(CancellationError())
                    }
                    // Something may have arrived between the first look and now.
                    if let (element, room) = pop(&state) { return .element(element, room: room) }
                    switch state.end {
                    case .finished?: return .end
                    case .failed(let error)?: return .fail(error)
                    case nil:
                        state.waiter = continuation
                        return .wait(id)
                    }
                }
                switch step {
                case .wait: break
                case .element(let element, let room):
                    if room { onRoom() }
                    continuation.resume(returning: element)
                case .end: continuation.resume(returning: nil)
                case .fail(let error): continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            let waiter: CheckedContinuation<Element?, any Error>? = state.withLock { state in
                if state.waiterID == id, let waiter = state.waiter {
                    state.waiter = nil
                    return waiter
                }
                state.cancelledID = id
                return nil
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let inbox: StreamInbox
        mutating func next() async throws -> Element? { try await inbox.next() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(inbox: self) }
}
