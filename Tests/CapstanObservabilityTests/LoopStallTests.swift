@testable import CapstanAPIServerHost
import CapstanHTTP2
import CapstanTestSupport
import Glibc
import Logging
import Synchronization
import Testing

/// Event-loop turns that keep a loop from its connections are reported, and logged sparingly.
@Suite("Event loop stalls")
struct LoopStallTests {
    @Test("a loop reports a turn that ran past the threshold, with its name and length; short turns are not reported")
    func reported() async throws {
        let reports = Reports()
        let report = StallReport(threshold: .milliseconds(50)) { loop, busy in reports.list.withLock { $0.append((loop, busy)) } }
        let group = try EventLoopGroup(threads: 1, name: "stall-test", stallReport: report)
        let loop = group.next()
        for _ in 0..<20 { loop.execute {} }
        loop.execute { usleep(150_000) }
        #expect(await eventually { !reports.list.withLock { $0.isEmpty } })
        let seen = reports.list.withLock { $0 }
        // The long turn, and none shorter than the threshold (a loaded machine may add others).
        #expect(seen.contains { $0.0 == "stall-test-0" && $0.1 >= .milliseconds(150) }, "\(seen)")
        #expect(seen.allSatisfy { $0.1 >= .milliseconds(50) })
        await group.shutdown()
    }

    @Test("the log writes the first stall of a loop at once, then one line per interval with the count and the longest")
    func logged() {
        let records = CapturedRecords()
        let log = LoopStallLog(threshold: .milliseconds(100), interval: .seconds(10), logger: records.logger(level: .info))
        let start = ContinuousClock.now
        log.note(loop: "l-0", busy: .milliseconds(340), now: start)
        log.note(loop: "l-0", busy: .milliseconds(120), now: start + .seconds(1))
        log.note(loop: "l-0", busy: .milliseconds(900), now: start + .seconds(2))
        log.note(loop: "l-1", busy: .milliseconds(150), now: start + .seconds(3))
        #expect(records.all.count == 2, "the first of each loop")
        log.note(loop: "l-0", busy: .milliseconds(200), now: start + .seconds(11))
        let lines = records.all.map { ($0.metadata["loop"].map { "\($0)" } ?? "", $0.metadata["stalls"].map { "\($0)" } ?? "",
            $0.metadata["longest_ms"].map { "\($0)" } ?? "") }
        #expect(lines.count == 3)
        #expect(lines.map(\.0) == ["l-0", "l-1", "l-0"])
        #expect(lines[0].1 == "1" && lines[0].2 == "340")
        // Three stalls since the first line, the longest 900 ms.
        #expect(lines[2].1 == "3" && lines[2].2 == "900", "\(lines)")
        #expect(records.all.allSatisfy { $0.level == .warning })
    }
}

private final class Reports: Sendable {
    let list = Mutex<[(String, Duration)]>([])
}
