@testable import CapstanStore
import Synchronization
import Testing

@Suite("Deadlines of etcd requests across a stall of the whole process")
struct EtcdDeadlinesTests {
    /// A clock that jumps 20 s ahead at given readings (as a process stopped that long sees
    /// it), and a target that notes the reading at which it was cancelled.
    final class StalledClock: EtcdDeadlineTarget, Sendable {
        private let state = Mutex((readings: 0, offset: Duration.zero, cancelledAt: Int?.none))
        private let jumps: Set<Int>

        init(jumpsAt jumps: Set<Int>) {
            self.jumps = jumps
        }

        func now() -> ContinuousClock.Instant {
            state.withLock { state in
                state.readings += 1
                if jumps.contains(state.readings) { state.offset += .seconds(20) }
                return .now + state.offset
            }
        }

        func deadlinePassed() {
            state.withLock { $0.cancelledAt = $0.readings }
        }

        var cancelledAt: Int? { state.withLock { $0.cancelledAt } }
    }

    /// Registers a request due in 10 s of `clock`'s time, and waits until it is cancelled.
    private func cancellation(_ clock: StalledClock) async throws -> Int? {
        let deadlines = EtcdDeadlines(tick: .milliseconds(5), now: { clock.now() })
        _ = deadlines.register(.now + .seconds(10), clock)
        for _ in 0..<400 where clock.cancelledAt == nil {
            try await Task.sleep(for: .milliseconds(5))
        }
        return clock.cancelledAt
    }

    @Test("a tick that comes 20 s late cancels nothing; the next one cancels the overdue request")
    func lateTickIsSpared() async throws {
        // Reading 1 is the ticker's start, 2 its first wake: the third finds the jump.
        #expect(try await cancellation(StalledClock(jumpsAt: [3])) == 4)
    }

    @Test("two late ticks in a row: only the first is spared")
    func onlyOneTickIsSpared() async throws {
        #expect(try await cancellation(StalledClock(jumpsAt: [3, 4])) == 4)
    }
}
