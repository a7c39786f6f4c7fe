/// The `grpc-timeout` header: at most 8 ASCII digits and a unit, `H` hours, `M` minutes,
/// `S` seconds, `m` milliseconds, `u` microseconds, `n` nanoseconds (e.g. `100m`, `5S`).
enum GRPCTimeout {
    /// The largest value the 8 digits can carry.
    static let maxValue: Int64 = 99_999_999

    /// A unit's letter and its length in nanoseconds, finest first.
    private static let units: [(letter: UInt8, nanoseconds: Int64)] = [
        (UInt8(ascii: "n"), 1),
        (UInt8(ascii: "u"), 1_000),
        (UInt8(ascii: "m"), 1_000_000),
        (UInt8(ascii: "S"), 1_000_000_000),
        (UInt8(ascii: "M"), 60_000_000_000),
        (UInt8(ascii: "H"), 3_600_000_000_000),
    ]

    /// The duration a header value states, or nil when it is malformed (no digits, more than 8,
    /// anything but digits before the unit, an unknown unit). `0n` is accepted, as a deadline
    /// that has already passed, because clients send it for expired deadlines.
    static func parse(_ value: String) -> Duration? {
        parse(value.utf8)
    }

    /// `parse` on the bytes of the value (read in place, no copy).
    static func parse<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Duration? {
        let count = bytes.count
        guard count >= 2, count <= 9 else { return nil }
        var amount: Int64 = 0
        var unitLetter: UInt8 = 0
        for (offset, byte) in bytes.enumerated() {
            if offset == count - 1 {
                unitLetter = byte
                break
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            amount = amount * 10 + Int64(byte - UInt8(ascii: "0"))
        }
        guard let unit = units.first(where: { $0.letter == unitLetter }) else { return nil }
        // At most 99,999,999 hours: 3.6e11 seconds, well inside Duration's range.
        let perSecond: Int64 = 1_000_000_000
        if unit.nanoseconds >= perSecond {
            return .seconds(amount * (unit.nanoseconds / perSecond))
        }
        return .nanoseconds(amount * unit.nanoseconds)
    }

    /// The header value for `duration`: the finest unit whose value fits in 8 digits, rounded up so
    /// the peer never sees a shorter deadline. Durations of zero or less become `1n` (the value
    /// must be positive); durations beyond 99,999,999 hours are capped there.
    static func encode(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        guard seconds > 0 || (seconds == 0 && attoseconds > 0) else { return "1n" }
        // Both components are non-negative from here on.
        let perSecond: Int64 = 1_000_000_000
        // From 9e9 s on, nanoseconds overflow Int64; only hours fit in 8 digits there anyway.
        guard seconds < 9 * perSecond else {
            let exact = seconds % 3_600 == 0 && attoseconds == 0
            return "\(min(seconds / 3_600 + (exact ? 0 : 1), maxValue))H"
        }
        let nanoseconds = seconds * perSecond + divideRoundingUp(attoseconds, perSecond)
        for unit in units {
            let amount = divideRoundingUp(nanoseconds, unit.nanoseconds)
            if amount <= maxValue {
                return "\(amount)\(Character(Unicode.Scalar(unit.letter)))"
            }
        }
        return "\(maxValue)H"
    }

    /// `value / divisor` rounded towards positive infinity, for non-negative values.
    private static func divideRoundingUp(_ value: Int64, _ divisor: Int64) -> Int64 {
        let (quotient, remainder) = value.quotientAndRemainder(dividingBy: divisor)
        return remainder == 0 ? quotient : quotient + 1
    }
}
