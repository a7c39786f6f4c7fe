/// proto3 JSON forms of `google.protobuf.Timestamp` (RFC 3339, UTC) and `Duration` ("1.5s").
extension ProtoJSON {
    /// Seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the range proto3 JSON allows.
    static let minTimestampSeconds: Int64 = -62_135_596_800
    static let maxTimestampSeconds: Int64 = 253_402_300_799
    /// About 10,000 years, the range proto3 JSON allows a Duration.
    static let maxDurationSeconds: UInt64 = 315_576_000_000

    /// `2026-11-26T14:41:51.5Z`: UTC, with 0, 3, 6 or 9 fractional digits as needed. Values outside
    /// years 0001 to 9999, or with nanos outside 0..<1e9, have no JSON form and throw.
    public static func formatTimestamp(seconds: Int64, nanos: Int32, codingPath: [any CodingKey]) throws -> String {
        guard seconds >= minTimestampSeconds, seconds <= maxTimestampSeconds, nanos >= 0, nanos < 1_000_000_000 else {
            throw EncodingError.invalidValue(
                (seconds, nanos), .init(codingPath: codingPath, debugDescription:
                    "timestamp \(seconds)s \(nanos)ns is outside years 0001 to 9999 or has invalid nanos"))
        }
        let days = floorDiv(seconds, 86_400)
        let secondOfDay = seconds - days * 86_400
        let (y, m, d) = civil(fromDays: days)
        var s = pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2) + "T"
        s += pad(secondOfDay / 3600, 2) + ":" + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2)
        return s + fraction(nanos) + "Z"
    }

    /// Parses RFC 3339 (`Z` or a `±hh:mm` offset, up to 9 fractional digits).
    public static func parseTimestamp(_ text: String, codingPath: [any CodingKey]) throws -> (Int64, Int32) {
        let bad = corrupted(codingPath, "\"\(text)\" is not an RFC 3339 timestamp like 2026-01-02T15:04:05Z")
        let u = Array(text.utf8)
        guard u.count >= 20, u[4] == UInt8(ascii: "-"), u[7] == UInt8(ascii: "-"),
              u[10] == UInt8(ascii: "T") || u[10] == UInt8(ascii: "t"),
              u[13] == UInt8(ascii: ":"), u[16] == UInt8(ascii: ":"),
              let year = digits(u, 0, 4), let month = digits(u, 5, 2), let day = digits(u, 8, 2),
              let hour = digits(u, 11, 2), let minute = digits(u, 14, 2), let second = digits(u, 17, 2),
              (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
              hour < 24, minute < 60, second < 60
        else { throw bad }
        var i = 19
        var nanos: Int64 = 0
        if u[i] == UInt8(ascii: ".") {
            i += 1
            var count = 0
            while i < u.count, let d = digits(u, i, 1) {
                guard count < 9 else { throw bad }
                nanos = nanos * 10 + d
                count += 1
                i += 1
            }
            guard count > 0 else { throw bad }
            for _ in count..<9 { nanos *= 10 }
        }
        guard i < u.count else { throw bad }
        var offset: Int64 = 0
        if u[i] == UInt8(ascii: "Z") || u[i] == UInt8(ascii: "z") {
            i += 1
        } else if u[i] == UInt8(ascii: "+") || u[i] == UInt8(ascii: "-") {
            guard u.count == i + 6, u[i + 3] == UInt8(ascii: ":"),
                  let oh = digits(u, i + 1, 2), let om = digits(u, i + 4, 2), oh < 24, om < 60
            else { throw bad }
            offset = (oh * 3600 + om * 60) * (u[i] == UInt8(ascii: "-") ? -1 : 1)
            i += 6
        } else {
            throw bad
        }
        guard i == u.count else { throw bad }
        let seconds = days(fromCivil: year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset
        guard seconds >= minTimestampSeconds, seconds <= maxTimestampSeconds else {
            throw corrupted(codingPath, "timestamp \"\(text)\" is outside years 0001 to 9999")
        }
        return (seconds, Int32(nanos))
    }

    /// `1.5s`, `-0.000001s`, `3s`. Durations beyond ±10,000 years, or whose nanos disagree in sign
    /// with the seconds or exceed a second, have no JSON form and throw.
    public static func formatDuration(seconds: Int64, nanos: Int32, codingPath: [any CodingKey]) throws -> String {
        guard seconds.magnitude <= maxDurationSeconds, nanos.magnitude < 1_000_000_000,
              seconds == 0 || nanos == 0 || (seconds < 0) == (nanos < 0)
        else {
            throw EncodingError.invalidValue(
                (seconds, nanos), .init(codingPath: codingPath, debugDescription:
                    "duration \(seconds)s \(nanos)ns is out of range or its nanos disagree with its seconds"))
        }
        let negative = seconds < 0 || nanos < 0
        let s = seconds.magnitude
        let n = Int32(truncatingIfNeeded: Int64(nanos).magnitude)
        return (negative ? "-" : "") + String(s) + fraction(n) + "s"
    }

    /// Parses `<seconds>[.<fraction>]s`, optionally negative.
    public static func parseDuration(_ text: String, codingPath: [any CodingKey]) throws -> (Int64, Int32) {
        let bad = corrupted(codingPath, "\"\(text)\" is not a duration like \"1.5s\"")
        var u = Substring(text)
        guard u.hasSuffix("s") else { throw bad }
        u = u.dropLast()
        let negative = u.hasPrefix("-")
        if negative { u = u.dropFirst() }
        let parts = u.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.allSatisfy(\.isASCIIDigit),
              let seconds = Int64(whole), seconds <= maxDurationSeconds
        else { throw bad }
        var nanos: Int64 = 0
        if parts.count == 2 {
            let frac = parts[1]
            guard !frac.isEmpty, frac.count <= 9, frac.allSatisfy(\.isASCIIDigit) else { throw bad }
            nanos = Int64(frac)! * pow10(9 - frac.count)
        }
        return negative ? (-seconds, Int32(-nanos)) : (seconds, Int32(nanos))
    }

    private static func fraction(_ nanos: Int32) -> String {
        guard nanos != 0 else { return "" }
        if nanos % 1_000_000 == 0 { return "." + pad(Int64(nanos / 1_000_000), 3) }
        if nanos % 1_000 == 0 { return "." + pad(Int64(nanos / 1_000), 6) }
        return "." + pad(Int64(nanos), 9)
    }

    private static func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    private static func pow10(_ n: Int) -> Int64 {
        var r: Int64 = 1
        for _ in 0..<n { r *= 10 }
        return r
    }

    private static func digits(_ u: [UInt8], _ start: Int, _ count: Int) -> Int64? {
        guard start + count <= u.count else { return nil }
        var v: Int64 = 0
        for i in start..<(start + count) {
            guard u[i] >= UInt8(ascii: "0"), u[i] <= UInt8(ascii: "9") else { return nil }
            v = v * 10 + Int64(u[i] - UInt8(ascii: "0"))
        }
        return v
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        a >= 0 ? a / b : -((-a + b - 1) / b)
    }

    private static func isLeap(_ y: Int64) -> Bool { y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    private static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    private static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
