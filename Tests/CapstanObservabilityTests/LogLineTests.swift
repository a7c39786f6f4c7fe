@testable import CapstanRPC
import Foundation
import Logging
import Synchronization
import Testing

/// Lines a `LineLogHandler` wrote.
final class LineSink: LogSink {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func write(line: String) { lines.withLock { $0.append(line) } }
}

@Suite("Log lines (text and json)")
struct LogLineTests {
    private static let fixedTime = LogTimestamp(seconds: 1_764_178_340, nanoseconds: 123_456_789)

    private func logger(_ format: LogLine.Format, _ sink: LineSink) -> Logger {
        Logger(label: "capstan.rpc") { label in
            LineLogHandler(label: label, level: .info, format: format, sink: sink, clock: { Self.fixedTime })
        }
    }

    @Test("timestamps are RFC 3339 UTC with microseconds, across leap years and before 1970")
    func timestamps() {
        #expect(Self.fixedTime.description == "2025-11-26T17:32:20.123456Z")
        #expect(LogTimestamp(seconds: 0, nanoseconds: 0).description == "1970-01-01T00:00:00.000000Z")
        #expect(LogTimestamp(seconds: 951_782_400, nanoseconds: 5_000).description == "2000-02-29T00:00:00.000005Z")
        #expect(LogTimestamp(seconds: 4_107_542_399, nanoseconds: 999_999_999).description == "2100-02-28T23:59:59.999999Z")
        #expect(LogTimestamp(seconds: -1, nanoseconds: 0).description == "1969-12-31T23:59:59.000000Z")
        // Days over about 400 years against Foundation's calendar, which switches to the Julian
        // calendar before 1582-10-15 (RFC 3339 uses the proleptic Gregorian one): from 1587 on.
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        for day in stride(from: Int64(-139_000), to: 146_097, by: 97) {
            let seconds = day * 86_400 + 3_723
            let parts = calendar.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: TimeInterval(seconds)))
            let (year, month, dayOfMonth) = LogTimestamp.civilDate(daysSinceEpoch: day)
            #expect([year, month, dayOfMonth] == [Int64(parts.year!), Int64(parts.month!), Int64(parts.day!)], "day \(day)")
        }
    }

    @Test("text: level, label, message, then sorted key=value pairs, quoted where needed")
    func text() {
        let sink = LineSink()
        logger(.text, sink).info("rpc", metadata: [
            "rpc.method": "/capstan.v1.Pods/Get", "rpc.code": "NOT_FOUND", "rpc.error": "pod \"web\" not found",
            "empty": "", "multi": "a\nb",
        ])
        logger(.text, sink).debug("dropped below the level")
        #expect(sink.all == [
            "2025-11-26T17:32:20.123456Z info capstan.rpc: rpc empty=\"\" multi=\"a\\nb\" rpc.code=NOT_FOUND "
                + "rpc.error=\"pod \\\"web\\\" not found\" rpc.method=/capstan.v1.Pods/Get",
        ])
    }

    @Test("json: one valid object per line with the metadata as string fields, numbers as numbers")
    func json() throws {
        let sink = LineSink()
        logger(.json, sink).warning("rpc", metadata: [
            "rpc.code": "DEADLINE_EXCEEDED", "rpc.error": "tab\there \"quoted\" \u{1}", "list": ["a", "b"],
            "rpc.latency_ms": .stringConvertible(LogNumber(formatted: "0.137")), "count": .stringConvertible(LogNumber(42)),
        ])
        let line = try #require(sink.all.first)
        #expect(!line.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["time"] as? String == "2025-11-26T17:32:20.123456Z")
        #expect(object["level"] as? String == "warning")
        #expect(object["logger"] as? String == "capstan.rpc")
        #expect(object["message"] as? String == "rpc")
        #expect(object["rpc.code"] as? String == "DEADLINE_EXCEEDED")
        #expect(object["rpc.error"] as? String == "tab\there \"quoted\" \u{1}")
        #expect(object["list"] as? [String] == ["a", "b"])
        #expect((object["rpc.latency_ms"] as? NSNumber)?.doubleValue == 0.137, "\(line)")
        #expect((object["count"] as? NSNumber)?.intValue == 42, "\(line)")
        // Text lines show the number as it is.
        let text = LineSink()
        logger(.text, text).warning("rpc", metadata: ["rpc.latency_ms": .stringConvertible(LogNumber(formatted: "0.137"))])
        #expect(text.all.first?.hasSuffix(" rpc.latency_ms=0.137") == true, "\(text.all)")
    }
}
