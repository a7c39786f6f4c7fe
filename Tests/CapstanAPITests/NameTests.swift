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
}
