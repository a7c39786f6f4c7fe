import CapstanAPI
import Testing

@Suite("Label selectors")
struct LabelSelectorTests {
    let labels = ["app": "web", "tier": "frontend", "example.com/team": "a"]

    @Test("every operator parses and matches as in Kubernetes", arguments: [
        ("", true),
        ("app=web", true),
        ("app==web", true),
        ("app=db", false),
        ("app!=db", true),
        ("app!=web", false),
        ("missing!=x", true),
        ("app in (web,db)", true),
        ("app in (db)", false),
        ("missing in (x)", false),
        ("app notin (db)", true),
        ("app notin (web, db)", false),
        ("missing notin (x)", true),
        ("app", true),
        ("missing", false),
        ("!missing", true),
        ("!app", false),
        ("app=web,tier=frontend", true),
        ("app=web, tier=backend", false),
        ("example.com/team=a", true),
        ("  app = web ,  !canary  ", true),
        ("app=", false),
        ("!app,app", false),
    ])
    func matching(selector: String, expected: Bool) throws {
        let parsed = try LabelSelector.parse(selector)
        #expect(parsed.matches(labels) == expected, "\(selector)")
    }

    @Test("an empty value selects labels with an empty value")
    func emptyValue() throws {
        #expect(try LabelSelector.parse("a=").matches(["a": ""]))
        #expect(try !LabelSelector.parse("a=").matches([:]))
    }

    @Test("as in Kubernetes, an empty slot of a value set is the empty value: () is the set of it")
    func emptySlots() throws {
        #expect(try LabelSelector.parse("a in ()").matches(["a": ""]))
        #expect(try !LabelSelector.parse("a in ()").matches(["a": "x"]))
        #expect(try LabelSelector.parse("a in (x,)").matches(["a": ""]))
        #expect(try LabelSelector.parse("a in (,x)").matches(["a": "x"]))
        #expect(try !LabelSelector.parse("a notin (x,,y)").matches(["a": ""]))
        #expect(try LabelSelector.parse("a notin (x,,y)").matches(["a": "z"]))
        let parsed = try LabelSelector.parse("a in (x,)")
        #expect(try LabelSelector.parse(parsed.description) == parsed, "\(parsed.description)")
    }

    @Test("bad syntax reports position and token", arguments: [
        ("a in (x", 7, "", "expected \",\" or \")\""),
        ("a in x", 5, "x", "expected \"(\""),
        ("a b", 2, "b", "expected an operator"),
        ("a=b,", 4, "", "expected a label key"),
        (",a", 0, ",", "expected a label key"),
        ("a==(", 3, "(", "expected a label value"),
        ("a in (=)", 6, "=", "expected a label value"),
        ("A B=c", 2, "B", "expected an operator"),
        ("-a=b", 0, "-a", "invalid label key"),
        ("a=b c", 4, "c", "expected \",\" or the end"),
        ("a=-x", 2, "-x", "invalid label value"),
        ("!", 1, "", "expected a label key"),
        // Only space, tab, CR and LF separate tokens, as in Kubernetes; other whitespace, like any
        // text that is not ASCII, is refused where it stands.
        ("a\u{00A0}=b", 1, "\u{00A0}", "selectors are ASCII"),
        ("a=\u{3000}b", 2, "\u{3000}", "selectors are ASCII"),
        ("a=b,\u{2028}c=d", 4, "\u{2028}", "selectors are ASCII"),
        ("app=we\u{301}b", 6, "\u{301}", "selectors are ASCII"),
        (Array(repeating: "a", count: 101).joined(separator: ","), 200, "a", "more than 100 requirements"),
    ])
    func syntaxErrors(selector: String, position: Int, token: String, reason: String) {
        #expect {
            try LabelSelector.parse(selector)
        } throws: { error in
            guard let error = error as? SelectorError else { return false }
            return error.kind == .label && error.position == position && error.token == token
                && error.reason.contains(reason) && error.description.contains("position \(position)")
        }
    }

    @Test("a selector over 64 KiB is refused before it is read; 100 requirements are fine")
    func limits() throws {
        let long = "a in (" + String(repeating: "x,", count: 33_000) + "y)"
        #expect { try LabelSelector.parse(long) } throws: { error in
            (error as? SelectorError)?.reason.contains("over the limit of 65536") == true
        }
        let hundred = (0..<100).map { "k\($0)=v" }.joined(separator: ",")
        #expect(try LabelSelector.parse(hundred).requirements.count == 100)
        let fields = (0...100).map { "metadata.name=k\($0)" }.joined(separator: ",")
        #expect { try FieldSelector.parse(fields, schema: FieldSchema()) } throws: { error in
            (error as? SelectorError)?.reason.contains("more than 100 requirements") == true
        }
    }

    @Test("space, tab, CR, LF and CR LF separate tokens")
    func asciiSpaces() throws {
        let selector = try LabelSelector.parse(" a \t=\r\nb ,\n c in ( x ,y )\r\n")
        #expect(selector.matches(["a": "b", "c": "y"]))
        #expect(!selector.matches(["a": "b", "c": "z"]))
    }

    @Test("a selector from a map matches maps containing it; description is canonical")
    func fromMap() throws {
        let selector = LabelSelector(matching: ["tier": "frontend", "app": "web"])
        #expect(selector.matches(labels))
        #expect(!selector.matches(["app": "web"]))
        #expect(selector.description == "app=web,tier=frontend")
        #expect(try LabelSelector.parse("b notin (y,x),!c").description == "b notin (x,y),!c")
        #expect(LabelSelector().matches([:]))
    }
}
