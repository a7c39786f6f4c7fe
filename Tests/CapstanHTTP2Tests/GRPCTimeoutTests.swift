@testable import CapstanHTTP2
import Testing

@Suite("grpc-timeout")
struct GRPCTimeoutTests {
    @Test(arguments: [
        ("1H", Duration.seconds(3_600)),
        ("2M", .seconds(120)),
        ("5S", .seconds(5)),
        ("100m", .milliseconds(100)),
        ("7u", .microseconds(7)),
        ("9n", .nanoseconds(9)),
        ("99999999H", .seconds(99_999_999 * 3_600)),
        ("00000001S", .seconds(1)),
        ("12345678n", .nanoseconds(12_345_678)),
        ("0n", .zero),
    ])
    func parsesEveryUnit(value: String, expected: Duration) {
        #expect(GRPCTimeout.parse(value) == expected)
    }

    @Test(arguments: [
        "", "S", "1", "123456789S", "000000001S", "1s", "1h", "1x", "1U", "-1S", "+1S", " 1S", "1S ",
        "1.5S", "1SS", "S1", "1 S", "\u{0661}S", "1\u{00B5}",
    ])
    func rejectsMalformedValues(value: String) {
        #expect(GRPCTimeout.parse(value) == nil)
    }

    @Test(arguments: [
        (Duration.nanoseconds(1), "1n"),
        (.nanoseconds(99_999_999), "99999999n"),
        (.nanoseconds(100_000_000), "100000u"),
        (.nanoseconds(100_000_001), "100001u"),
        (.seconds(1), "1000000u"),
        (.seconds(99), "99000000u"),
        (.seconds(100), "100000m"),
        (.seconds(86_400), "86400000m"),
        (.seconds(100_000), "100000S"),
        (.seconds(100_000_000), "1666667M"),
        (.seconds(10_000_000_000), "2777778H"),
        (.seconds(99_999_999 * 3_600), "99999999H"),
        (.seconds(Int64.max), "99999999H"),
        (Duration(secondsComponent: 0, attosecondsComponent: 1_000_000_001), "2n"),
        (Duration(secondsComponent: 9_000_000_000, attosecondsComponent: 1), "2500001H"),
        (.zero, "1n"),
        (.seconds(-5), "1n"),
    ])
    func encodesInTheFinestUnitThatFitsRoundingUp(duration: Duration, expected: String) {
        #expect(GRPCTimeout.encode(duration) == expected)
    }

    @Test func encodedValuesAreNeverShorterAndParseBack() {
        let durations: [Duration] = [
            .nanoseconds(123), .microseconds(1_234_567), .milliseconds(250), .seconds(3_599), .seconds(7_777_777),
            .seconds(123_456_789), Duration(secondsComponent: 1, attosecondsComponent: 1),
        ]
        for duration in durations {
            let encoded = GRPCTimeout.encode(duration)
            #expect(encoded.utf8.count <= 9)
            let parsed = GRPCTimeout.parse(encoded)
            #expect(parsed != nil && parsed! >= duration, "\(duration) → \(encoded)")
        }
    }
}
