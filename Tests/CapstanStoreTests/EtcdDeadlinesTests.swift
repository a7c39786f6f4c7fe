@testable import CapstanStore
import Synchronization
import Testing

@Suite("Deadlines of etcd requests across a stall of the whole process")
struct EtcdDeadlinesTests {
    /// A clock of its own that moves one tick per reading (however late the ticker really
    /// wakes), and 20 s more at given readings (as a process stopped that long sees it), and a
    /// target that notes the reading at which it was cancelled.
    final class StalledClock: EtcdDeadlineTarget, Sendable {
        static let tick = Duration.milliseconds(5)
        let start = ContinuousClock.now
        private let state = Mutex((readings: 0, elapsed: Duration.zero, cancelledAt: Int?.none))
        private let jumps: Set<Int>

        init(jumpsAt jumps: Set<Int>) {
            self.jumps = jumps
        }

        func now() -> ContinuousClock.Instant {
            state.withLock { state in
                state.readings += 1
                if state.readings > 1 { state.elapsed += Self.tick }
                if jumps.contains(state.readings) { state.elapsed += .seconds(20) }
                return start + state.elapsed
            }
        }

        func deadlinePassed() {
            state.withLock { $0.cancelledAt = $0.readings }
        }

        var cancelledAt: Int? { state.withLock { $0.cancelledAt } }
    }

    /// Registers a request due in 10 s of `clock`'s time, and waits until it is cancelled.
    private func cancellation(_ clock: StalledClock) async throws -> Int? {
        let deadlines = EtcdDeadlines(tick: StalledClock.tick, now: { clock.now() })
        _ = deadlines.register(clock.start + .seconds(10), clock)
        let bound = ContinuousClock.now + .seconds(60)
        while clock.cancelledAt == nil, ContinuousClock.now < bound {
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
