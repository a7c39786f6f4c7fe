internal import CapstanRPC
import Synchronization

/// Who returns a stream's flow-control window once its reader made room.
protocol InboxOwner: AnyObject, Sendable {
    /// A pull brought the buffer below the mark after window was withheld. Runs on the reader's
    /// thread; the owner hops to its loop.
    func inboxMadeRoom()
}

/// Inbound elements of one stream (request messages on a server, response parts on a client),
/// pushed by the loop and pulled by one reader on any thread.
///
/// Back-pressure: the loop returns a stream's flow-control window (WINDOW_UPDATE) only while
/// fewer than `highWater` bytes of complete messages wait here (`admitsCredit`; each message
/// counts `messageOverhead` bytes more, see `charge(forMessageOfSize:)`); once the reader
/// pulls the buffer below that mark again, the owner (`InboxOwner`) asks its loop to return what
/// it withheld.
/// So a reader that stops pulling stops the peer after at most one window more.
///
/// The inbox holds its owner strongly until it ends (`finish`/`fail`), which every stream does
/// when it closes, so the owner ↔ inbox cycle is always broken.
///
/// The element type is fixed (`ClientResponsePart`; a server's request messages are `.message`
/// parts, read through `RequestMessages`) so that the code reached through the RPC core's
/// existential `AsyncSequence` is specialized rather than generic.
final class StreamInbox: AsyncSequence, Sendable {
    typealias Element = ClientResponsePart

    private enum End {
        case finished
        /// Stored as `RPCError` (not `any Error`) so ending a stream does not box an error.
        case failed(RPCError)
    }

    private struct Entry {
        let element: Element
        let bytes: Int
    }

    private struct State {
        /// The oldest element when it is the only one (the common case: one request message),
        /// kept out of `buffer` so that case needs no array.
        var single: Entry?
        var buffer: [Entry] = []
        var head = 0
        var bufferedBytes = 0
        var end: End?
        var waiter: UnsafeContinuation<Element?, any Error>?
        var waiterID: UInt64 = 0
        /// The id of a wait whose task was cancelled before it parked.
        var cancelledID: UInt64?
        var creditWithheld = false
        var owner: (any InboxOwner)?
        /// `pushDeferringWake` buffered an element for a parked reader; `wake()` resumes it.
        var wakePending = false
    }

    let highWater: Int
    private let state: Mutex<State>

    /// What a buffered message costs beyond its bytes, counted against `highWater` with every
    /// message: its entry in the buffer (about 50 bytes, more while the array has spare
    /// capacity) and, unless it is empty, its own heap block (a 32-byte array header, the
    /// block rounded up by malloc): 50 to 100 bytes in all. Without it, a peer streaming empty
    /// or tiny messages (5 bytes on the wire each) would have a stream buffer 10 to 20 times
    /// `highWater` before the window stopped coming back.
    static let messageOverhead = 64

    /// The bytes a message of `count` bytes is charged in the inbox: its framed size (what it
    /// took of the flow-control window) plus `messageOverhead`.
    static func charge(forMessageOfSize count: Int) -> Int {
        count + GRPCFraming.prefixLength + messageOverhead
    }

    init(highWater: Int, owner: any InboxOwner) {
        self.highWater = highWater
        var initial = State()
        initial.owner = owner
        state = Mutex(initial)
    }

    // MARK: Loop side

    /// Delivers an element that accounts for `bytes` of flow-control window.
    func push(_ element: Element, bytes: Int) {
        let waiter: UnsafeContinuation<Element?, any Error>? = state.withLock { state in
            guard state.end == nil else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            if state.single == nil, state.head == state.buffer.count {
                state.single = Entry(element: element, bytes: bytes)
            } else {
                state.buffer.append(Entry(element: element, bytes: bytes))
            }
            state.bufferedBytes += bytes
            return nil
        }
        waiter?.resume(returning: element)
    }

    /// Delivers an element like `push`, but leaves a parked reader parked: returns true when the
    /// caller must call `wake()` later (once per wait, however many elements arrive meanwhile),
    /// so everything delivered in one loop tick reaches the reader in one resume.
    func pushDeferringWake(_ element: Element, bytes: Int) -> Bool {
        state.withLock { state in
            guard state.end == nil else { return false }
            if state.single == nil, state.head == state.buffer.count {
                state.single = Entry(element: element, bytes: bytes)
            } else {
                state.buffer.append(Entry(element: element, bytes: bytes))
            }
            state.bufferedBytes += bytes
            guard state.waiter != nil, !state.wakePending else { return false }
            state.wakePending = true
            return true
        }
    }

    /// Resumes a parked reader with the oldest element (after `pushDeferringWake`).
    func wake() {
        typealias Resumption = (UnsafeContinuation<Element?, any Error>, Element, (any InboxOwner)?)
        let resumption: Resumption? = state.withLock { state in
            state.wakePending = false
            guard let waiter = state.waiter, case .element(let element, let room)? = pop(&state) else { return nil }
            state.waiter = nil
            return (waiter, element, room)
        }
        guard let (waiter, element, room) = resumption else { return }
        room?.inboxMadeRoom()
        waiter.resume(returning: element)
    }

    /// Whether the loop may return window now; if not, the owner hears once the reader made room.
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
    func fail(_ error: RPCError) {
        end(.failed(error))
    }

    private func end(_ end: End) {
        // A reader parked while `pushDeferringWake` buffered elements gets the oldest one.
        let (waiter, next): (UnsafeContinuation<Element?, any Error>?, Element?) = state.withLock { state in
            guard state.end == nil else { return (nil, nil) }
            state.end = end
            if case .failed = end {
                state.single = nil
                state.buffer.removeAll()
                state.head = 0
                state.bufferedBytes = 0
            }
            defer {
                state.waiter = nil
                state.owner = nil
            }
            guard let waiter = state.waiter else { return (nil, nil) }
            guard case .element(let element, _)? = pop(&state) else { return (waiter, nil) }
            return (waiter, element)
        }
        switch end {
        case .finished: waiter?.resume(returning: next)
        case .failed(let error): waiter?.resume(throwing: error)
        }
    }

    /// Whether the stream ended (finished or failed).
    var isEnded: Bool { state.withLock { $0.end != nil } }

    /// Elements buffered, and whether the last `admitsCredit` withheld window (for tests).
    var bufferState: (elements: Int, creditWithheld: Bool) {
        state.withLock { state in
            ((state.single == nil ? 0 : 1) + state.buffer.count - state.head, state.creditWithheld)
        }
    }

    // MARK: Reader side

    private enum Step {
        case element(Element, room: (any InboxOwner)?)
        case end
        case fail(any Error)
        case wait(UInt64)
    }

    /// Takes the oldest buffered element; `room` when credit was withheld and may flow again.
    private func pop(_ state: inout State) -> Step? {
        let entry: Entry
        if let single = state.single {
            entry = single
            state.single = nil
        } else {
            guard state.head < state.buffer.count else { return nil }
            entry = state.buffer[state.head]
            state.head += 1
            if state.head == state.buffer.count {
                state.buffer.removeAll(keepingCapacity: true)
                state.head = 0
            } else if state.head >= 32, state.head * 2 >= state.buffer.count {
                state.buffer.removeFirst(state.head)
                state.head = 0
            }
        }
        state.bufferedBytes -= entry.bytes
        var room: (any InboxOwner)?
        if state.creditWithheld, state.bufferedBytes < highWater {
            state.creditWithheld = false
            room = state.owner
        }
        return .element(entry.element, room: room)
    }

    /// What `poll` found: an element, the end, or nothing yet (then `wait(id:)`).
    enum Poll {
        case element(Element)
        case end
        case empty(UInt64)
    }

    /// Takes the next element without suspending when one is there (the common case: iterators
    /// call this first, so reading a buffered message costs no task switch).
    @inline(__always)
    func poll() throws -> Poll {
        let step: Step = state.withLock { state in
            if let step = pop(&state) { return step }
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
            room?.inboxMadeRoom()
            return .element(element)
        case .end:
            return .end
        case .fail(let error):
            throw error
        case .wait(let id):
            return .empty(id)
        }
    }

    /// The single request of a server stream whose client already half-closed, taken without
    /// suspending (`pending` while the client may still send). Fails as `poll` does.
    func takeImmediately() throws -> ImmediateRequests {
        try immediately(taking: true)
    }

    /// As `takeImmediately`, but leaves the request in the inbox for a later reader.
    func peekImmediately() throws -> ImmediateRequests {
        try immediately(taking: false)
    }

    private func immediately(taking: Bool) throws -> ImmediateRequests {
        enum Outcome {
            case taken(ImmediateRequests, room: (any InboxOwner)?)
            case fail(RPCError)
        }
        let outcome: Outcome = state.withLock { state in
            switch state.end {
            case nil: return .taken(.pending, room: nil)
            case .failed(let error)?: return .fail(error)
            case .finished?: break
            }
            let queued = (state.single == nil ? 0 : 1) + state.buffer.count - state.head
            switch queued {
            case 0: return .taken(.none, room: nil)
            case 1:
                guard taking else {
                    let entry = state.single ?? state.buffer[state.head]
                    guard case .message(let bytes) = entry.element else { return .taken(.none, room: nil) }
                    return .taken(.one(bytes), room: nil)
                }
                guard case .element(.message(let bytes), let room)? = pop(&state) else {
                    return .taken(.none, room: nil)
                }
                return .taken(.one(bytes), room: room)
            default: return .taken(.several, room: nil)
            }
        }
        switch outcome {
        case .taken(let result, let room):
            room?.inboxMadeRoom()
            return result
        case .fail(let error):
            throw error
        }
    }

    /// Waits for the next element after `poll` found none, in the caller's isolation (no hop to
    /// the generic executor and back, which a preferred task executor makes cost a lock each).
    func wait(id: UInt64, isolation: isolated (any Actor)? = #isolation) async throws -> Element? {
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation(isolation: isolation) {
                (continuation: UnsafeContinuation<Element?, any Error>) in
                let step: Step = state.withLock { state in
                    if state.cancelledID == id {
                        state.cancelledID = nil
                        return .fail(CancellationError())
                    }
                    // Something may have arrived between the first look and now.
                    if let step = pop(&state) { return step }
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
                    room?.inboxMadeRoom()
                    continuation.resume(returning: element)
                case .end: continuation.resume(returning: nil)
                case .fail(let error): continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            let waiter: UnsafeContinuation<Element?, any Error>? = state.withLock { state in
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

        mutating func next() async throws -> Element? {
            try await next(isolation: nil)
        }

        /// Runs in the caller's isolation: a buffered element costs no executor switch at all.
        mutating func next(isolation actor: isolated (any Actor)?) async throws -> Element? {
            switch try inbox.poll() {
            case .element(let element): return element
            case .end: return nil
            case .empty(let id): return try await inbox.wait(id: id)
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(inbox: self) }
}

/// A server stream's request messages: the `.message` parts of its inbox.
struct RequestMessages: AsyncSequence, ImmediateRequestSource, Sendable {
    typealias Element = [UInt8]
    let inbox: StreamInbox

    struct AsyncIterator: AsyncIteratorProtocol {
        var parts: StreamInbox.AsyncIterator

        mutating func next() async throws -> [UInt8]? {
            try await next(isolation: nil)
        }

        /// Runs in the caller's isolation, as the inbox's own iterator does.
        mutating func next(isolation actor: isolated (any Actor)?) async throws -> [UInt8]? {
            while let part = try await parts.next(isolation: actor) {
                if case .message(let bytes) = part { return bytes }
            }
            return nil
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(parts: inbox.makeAsyncIterator()) }

    func takeImmediately() throws -> ImmediateRequests {
        try inbox.takeImmediately()
    }
}
