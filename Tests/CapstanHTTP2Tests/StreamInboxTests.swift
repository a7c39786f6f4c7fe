@testable import CapstanHTTP2
import CapstanRPC
import Dispatch
import Synchronization
import Testing

/// Counts the times a reader made room after credit was withheld.
private final class RoomCounter: InboxOwner {
    let rooms = Atomic<Int>(0)
    func inboxMadeRoom() { rooms.add(1, ordering: .relaxed) }
}

/// A serial executor that counts the jobs it is given: each hop onto it is one.
private final class CountingExecutor: SerialExecutor {
    let jobs = Atomic<Int>(0)
    private let queue = DispatchQueue(label: "counting-executor")

    func enqueue(_ job: consuming ExecutorJob) {
        jobs.add(1, ordering: .relaxed)
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedSerialExecutor()) }
    }
}

/// Reads inboxes isolated to a `CountingExecutor`.
private actor IsolatedReader {
    let executor = CountingExecutor()
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    func readAll(_ sequence: some AsyncSequence & Sendable) async throws -> Int {
        var count = 0
        for try await _ in sequence { count += 1 }
        return count
    }
}

@Suite("Stream inbox: deferred wakes")
struct StreamInboxTests {
    private func message(_ byte: UInt8) -> ClientResponsePart { .message([byte]) }

    /// Reads the inbox to its end on another task.
    private func drain(_ inbox: StreamInbox) -> Task<[ClientResponsePart], any Error> {
        Task {
            var parts: [ClientResponsePart] = []
            for try await part in inbox { parts.append(part) }
            return parts
        }
    }

    @Test func deferredPartsReachAParkedReaderInOrderWhetherWokenOrFinished() async throws {
        // Each round races the reader parking against the pushes: both orders must lose nothing.
        for round in 0..<300 {
            let inbox = StreamInbox(highWater: 1 << 20, owner: RoomCounter())
            let reader = drain(inbox)
            if round % 3 != 0 { await Task.yield() }
            let first = inbox.pushDeferringWake(message(1), bytes: 1)
            let second = inbox.pushDeferringWake(message(2), bytes: 1)
            // (The reader may take the first part and park again before the second arrives.)
            if first || second, round % 2 == 0 { inbox.wake() }
            _ = inbox.pushDeferringWake(.status(RPCStatus(code: .ok, message: ""), details: nil, trailers: Metadata()), bytes: 0)
            // Finishing while the reader is still parked hands it the oldest part, not the end.
            inbox.finish()
            let parts = try await reader.value
            #expect(parts == [message(1), message(2), .status(RPCStatus(code: .ok, message: ""), details: nil, trailers: Metadata())])
        }
    }

    @Test func aWakeWithNothingParkedIsHarmless() async throws {
        let inbox = StreamInbox(highWater: 1 << 20, owner: RoomCounter())
        #expect(!inbox.pushDeferringWake(message(1), bytes: 1))
        inbox.wake()
        inbox.finish()
        #expect(try await drain(inbox).value == [message(1)])
    }

    @Test func failingDropsDeferredPartsAndFailsTheParkedReader() async throws {
        for round in 0..<100 {
            let inbox = StreamInbox(highWater: 1 << 20, owner: RoomCounter())
            let reader = drain(inbox)
            if round % 2 == 0 { await Task.yield() }
            _ = inbox.pushDeferringWake(message(1), bytes: 1)
            inbox.fail(RPCError(code: .cancelled, message: "gone"))
            await #expect(throws: RPCError.self) { try await reader.value }
        }
    }

    @Test func creditWithheldFlowsAgainOnceADeferredPartIsRead() async throws {
        let owner = RoomCounter()
        let inbox = StreamInbox(highWater: 10, owner: owner)
        _ = inbox.pushDeferringWake(.message([UInt8](repeating: 0, count: 20)), bytes: 25)
        #expect(!inbox.admitsCredit(), "25 bytes buffered exceed the mark")
        #expect(owner.rooms.load(ordering: .relaxed) == 0)
        var iterator = inbox.makeAsyncIterator()
        _ = try await iterator.next()
        #expect(owner.rooms.load(ordering: .relaxed) == 1)
        #expect(inbox.admitsCredit())
        inbox.finish()
    }

    @Test func peekingLeavesTheRequestForTheReader() throws {
        let inbox = StreamInbox(highWater: 1 << 20, owner: RoomCounter())
        inbox.push(message(7), bytes: 1)
        guard case .pending = try inbox.peekImmediately() else {
            Issue.record("a request before the half-close is pending")
            return
        }
        inbox.finish()
        for _ in 0..<2 {
            guard case .one(let bytes) = try inbox.peekImmediately() else {
                Issue.record("expected the one request")
                return
            }
            #expect(bytes == [7])
        }
        guard case .one(let taken) = try inbox.takeImmediately() else {
            Issue.record("the peeked request is still there to take")
            return
        }
        #expect(taken == [7])
        guard case .none = try inbox.peekImmediately() else {
            Issue.record("nothing is left once taken")
            return
        }
        let twice = StreamInbox(highWater: 1 << 20, owner: RoomCounter())
        twice.push(message(1), bytes: 1)
        twice.push(message(2), bytes: 1)
        twice.finish()
        guard case .several = try twice.peekImmediately() else {
            Issue.record("two requests are several")
            return
        }
    }

    @Test func anIsolatedReaderTakesBufferedPartsWithoutLeavingItsExecutor() async throws {
        // Each element read through an iterator without `next(isolation:)` hops to the generic
        // executor and back: one job on the reader's executor per element.
        /// An ended inbox holding 100 messages.
        func filledInbox() -> StreamInbox {
            let inbox = StreamInbox(highWater: 1 << 20, owner: RoomCounter())
            for byte in 0..<100 { inbox.push(message(UInt8(byte)), bytes: 1) }
            inbox.finish()
            return inbox
        }
        let reader = IsolatedReader()
        #expect(try await reader.readAll(filledInbox()) == 100)
        #expect(reader.executor.jobs.load(ordering: .relaxed) <= 2)

        let requests = filledInbox()
        let before = reader.executor.jobs.load(ordering: .relaxed)
        #expect(try await reader.readAll(RequestMessages(inbox: requests)) == 100)
        #expect(reader.executor.jobs.load(ordering: .relaxed) - before <= 2)
    }

    @Test func anIsolatedReaderParksAndIsWokenInOrder() async throws {
        let reader = IsolatedReader()
        let inbox = StreamInbox(highWater: 1 << 20, owner: RoomCounter())
        let read = Task { try await reader.readAll(inbox) }
        for byte in 0..<50 {
            if inbox.pushDeferringWake(message(UInt8(byte)), bytes: 1) { inbox.wake() }
            if byte % 10 == 0 { await Task.yield() }
        }
        inbox.finish()
        #expect(try await read.value == 50)
    }
}
