import CapstanAPI
import Testing

@Suite("Names")
struct NameTests {
    @Test("DNS-1123 labels", arguments: [
        ("web", true), ("web-1", true), ("1web", true), ("a", true),
        ("", false), ("Web", false), ("-web", false), ("web-", false), ("web_1", false), ("web.1", false),
        (String(repeating: "a", count: 63), true), (String(repeating: "a", count: 64), false),
    ])
    func labels(name: String, valid: Bool) {
        #expect(DNS1123.isLabel(name) == valid, "\(name)")
    }

    @Test("qualified label keys and label values")
    func labelKeys() {
        #expect(DNS1123.qualifiedNameViolation("app") == nil)
        #expect(DNS1123.qualifiedNameViolation("example.com/App_1.x") == nil)
        #expect(DNS1123.qualifiedNameViolation("Example.com/app") != nil)
        #expect(DNS1123.qualifiedNameViolation("a/b/c") != nil)
        #expect(DNS1123.qualifiedNameViolation("") != nil)
        #expect(DNS1123.labelValueViolation("") == nil)
        #expect(DNS1123.labelValueViolation("v1.2_3-x") == nil)
        #expect(DNS1123.labelValueViolation("-v") != nil)
    }

    @Test("generated names: prefix plus five allowed characters, at most 63, valid labels")
    func generated() {
        var seen: Set<String> = []
        for _ in 0..<200 {
            let name = NameGenerator.generate(prefix: "web-")
            #expect(name.hasPrefix("web-") && name.count == 9)
            #expect(DNS1123.isLabel(name))
            seen.insert(name)
        }
        #expect(seen.count > 190)
        let long = NameGenerator.generate(prefix: String(repeating: "x", count: 70))
        #expect(long.count == 63 && DNS1123.isLabel(long))
    }

    @Test("a generated suffix is the base-27 digits of the random word's share of 27^5 suffixes")
    func suffixFromRandomBits() {
        #expect(NameGenerator.generate(prefix: "p-", random: 0) == "p-bbbbb")
        #expect(NameGenerator.generate(prefix: "p-", random: .max) == "p-99999")
        // 2^64 / 27^5 words per suffix: the word at the start of suffix 1 + 2·27 picks "cdbbb".
        let perSuffix = UInt64.max / 14_348_907 + 1
        #expect(NameGenerator.generate(prefix: "", random: perSuffix * 55) == "cdbbb")
        // A prefix cut inside a two-byte character keeps a valid string of the same length bound.
        let cut = NameGenerator.generate(prefix: String(repeating: "x", count: 57) + "é", random: 0)
        #expect(cut.hasSuffix("bbbbb") && cut.utf8.count <= 63 + 2)
        // Words spread over the whole space give suffixes spread over every character.
        var characters: Set<Character> = []
        for step in 0..<2_000 {
            let name = NameGenerator.generate(prefix: "", random: UInt64(step) &* 0x9E37_79B9_7F4A_7C15)
            characters.formUnion(name)
        }
        #expect(characters.count == 27)
    }
}
