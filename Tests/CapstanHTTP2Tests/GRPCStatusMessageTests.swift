@testable import CapstanHTTP2
import Testing

@Suite("grpc-message percent-encoding")
struct GRPCStatusMessageTests {
    @Test(arguments: [
        ("plain ASCII, with spaces ~!", "plain ASCII, with spaces ~!"),
        ("50% done", "50%25 done"),
        ("héllo", "h%C3%A9llo"),
        ("日本", "%E6%97%A5%E6%9C%AC"),
        ("a\nb\tc\r", "a%0Ab%09c%0D"),
        ("\u{7F}\u{0}", "%7F%00"),
        ("🚀", "%F0%9F%9A%80"),
        ("", ""),
    ])
    func encodesAndDecodes(message: String, encoded: String) {
        #expect(GRPCStatusMessage.encode(message) == encoded)
        #expect(GRPCStatusMessage.decode(encoded) == message)
    }

    @Test(arguments: [
        ("100%", "100%"),
        ("%zz", "%zz"),
        ("%4", "%4"),
        ("%%41", "%A"),
        ("%c3%a9", "é"),
        ("%FF", "\u{FFFD}"),
        ("caf%C3", "caf\u{FFFD}"),
    ])
    func decodingIsLenient(value: String, expected: String) {
        #expect(GRPCStatusMessage.decode(value) == expected)
    }

    @Test func encodedValuesArePrintableASCIIWithoutStrayPercent() {
        let encoded = GRPCStatusMessage.encode("déjà vu 100% \u{1F600}\n")
        #expect(encoded.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E })
        #expect(encoded == "d%C3%A9j%C3%A0 vu 100%25 %F0%9F%98%80%0A")
    }
}
