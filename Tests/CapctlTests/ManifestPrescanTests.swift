import CapstanAPI
@testable import CapctlKit
import Foundation
import Testing

/// Anchors and aliases are refused before the YAML parser expands them; JSON surrogate pairs read.
@Suite struct CapctlManifestPrescanTests {
    static let pod = "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i}]}\n"

    /// Nine levels of nine aliases each: 9^9 nodes once expanded, as a value and as a mapping key
    /// (Yams hashes keys whole while parsing).
    static func laughs(asKey: Bool) -> String {
        var text = "x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for level in 1...9 {
            text += "x\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ", ") + "]\n"
        }
        return text + (asKey ? "? *a9\n: boom\n" : "boom: *a9\n") + pod
    }

    @Test(.timeLimit(.minutes(1)), arguments: [
        (laughs(asKey: false), "line 1, column 5: YAML anchors and aliases are not supported (&a0)"),
        (laughs(asKey: true), "line 1, column 5: YAML anchors and aliases are not supported (&a0)"),
        ("kind: Pod\nmetadata:\n  name: p\n  labels: &l {app: x}\n  annotations: *l\nspec: {containers: [{name: c, image: i}]}\n",
         "line 4, column 11: YAML anchors and aliases are not supported (&l)"),
        ("- &p " + pod.replacingOccurrences(of: "\n", with: "\n  ") + "\n- *p\n", "line 1, column 3: YAML anchors and aliases are not supported (&p)"),
        ("[{\"kind\": \"Pod\", \"metadata\": {\"name\": \"p\"}}, *p]", "line 1, column 46: YAML anchors and aliases are not supported (*p)"),
        // Keys at the column of a sequence entry's mapping are not a block scalar's content.
        ("- a: |\n  x: &a [lol, lol]\n  y: *a\n", "line 2, column 6: YAML anchors and aliases are not supported (&a)"),
    ])
    func anchorsAndAliasesAreRefused(manifest: String, message: String) {
        do {
            let objects = try Manifest.parse(manifest, source: "laughs.yaml")
            Issue.record("read without error: \(objects.count) objects")
        } catch {
            #expect(error.description == "laughs.yaml: \(message): write the value out in full", "\(error)")
        }
    }

    /// `*` and `&` inside scalars, quotes, block scalars and comments are text, not aliases.
    @Test func starsAndAmpersandsInScalarsAreText() throws {
        let text = """
            kind: Pod  # *not an alias
            metadata:
              name: p
              annotations:
                glob: ls *.txt && echo ok
                quoted: "*x &y"
                single: '*x, it''s'
                apostrophe: it's *fine*
                flow: "{[*]}"
                script: |
                  * item
                  & more
                folded: >-
                  *a
            spec:
              containers:
              - name: c
                image: i
                command: [sh, -c, echo *, a&b, "*q"]
                args:
                - |
                  * one
                env:
                - value: |
                    & two
                  name: E
            """
        let pod = try #require(try Manifest.parse(text, source: "p.yaml").first?.object as? Pod)
        #expect(pod.metadata.annotations == [
            "glob": "ls *.txt && echo ok", "quoted": "*x &y", "single": "*x, it's", "apostrophe": "it's *fine*",
            "flow": "{[*]}", "script": "* item\n& more\n", "folded": "*a",
        ])
        #expect(pod.spec.containers.first?.command == ["sh", "-c", "echo *", "a&b", "*q"])
        #expect(pod.spec.containers.first?.args == ["* one\n"])
        #expect(pod.spec.containers.first?.env.map { "\($0.name)=\($0.value)" } == ["E=& two\n"])
    }

    /// Python's json.dumps escapes characters outside the BMP as surrogate pairs, which libyaml refused.
    @Test func jsonSurrogatePairEscapesRead() throws {
        let text = #"""
            {"kind": "Pod", "metadata": {"name": "p", "annotations": {"smile": "\ud83d\ude00 ok",
             "literal": "\\ud83d\\ude00", "bmp": "\u00e9"}},
             "spec": {"containers": [{"name": "c", "image": "i"}]}}
            """#
        let pod = try #require(try Manifest.parse(text, source: "p.json").first?.object as? Pod)
        #expect(pod.metadata.annotations == ["smile": "\u{1F600} ok", "literal": #"\ud83d\ude00"#, "bmp": "é"])
        // Outside double quotes a backslash is not an escape.
        let plain = "kind: Pod\nmetadata: {name: p, annotations: {a: '\\ud83d\\ude00'}}\nspec: {containers: [{name: c, image: i}]}\n"
        let single = try #require(try Manifest.parse(plain, source: "p.yaml").first?.object as? Pod)
        #expect(single.metadata.annotations == ["a": #"\ud83d\ude00"#])
    }

    /// JSON values one after another (`get -w -o json`, or appended outputs) are one document each;
    /// braces and brackets inside strings do not count, and lines in messages stay the file's.
    @Test func aStreamOfJSONValuesIsOneDocumentEach() throws {
        func pod(_ name: String, note: String = "x") -> String {
            #"{"kind": "Pod", "metadata": {"name": "\#(name)", "annotations": {"n": "\#(note)"}},"#
                + "\n" + #" "spec": {"containers": [{"name": "c", "image": "i"}]}}"#
        }
        let stream = pod("a", note: #"} { \" ]["#) + "\n" + pod("b") + pod("c") + "\n\n[" + pod("d") + "]\n"
        let objects = try Manifest.parse(stream, source: "s.json")
        #expect(objects.map { ($0.object as? Pod)?.metadata.name } == ["a", "b", "c", "d"])
        #expect((objects.first?.object as? Pod)?.metadata.annotations == ["n": #"} { " ]["#])
        #expect(objects.map(\.origin) == [
            "s.json: document 1 (line 1)", "s.json: document 2 (line 3)", "s.json: document 3 (line 5)",
            "s.json: document 4 (line 8): [0]",
        ])
        // A mistake in the second value is reported at its own line.
        let broken = pod("a") + "\n" + pod("b").replacingOccurrences(of: #""spec""#, with: #""spec" 1"#)
        #expect {
            try Manifest.parse(broken, source: "s.json")
        } throws: { error in
            "\(error)".contains("s.json: document 2: line 4")
        }
        // YAML and single JSON values read as before.
        #expect(JSONStream.separated(Self.pod) == Self.pod)
        #expect(JSONStream.separated(pod("a")) == pod("a"))
        #expect(JSONStream.separated("{\"a\": 1} trailing") == "{\"a\": 1} trailing")
        // YAML's flow style with a comment or a single-quoted scalar is not JSON: left alone.
        for yaml in ["[a, # ]\n [b, # [\n]]\n", "{'a': '}'}\n{'b': 1}\n"] {
            #expect(JSONStream.separated(yaml) == yaml, "\(yaml)")
        }
    }

    /// Server text printed for a person shows control characters and bidirectional overrides as
    /// escapes; other text is left as it is.
    @Test func visibleText() {
        #expect(visible("plain é 世界") == "plain é 世界")
        #expect(visible("a\nb\tc\u{1B}[2J\u{7F}") == #"a\nb\tc\u{1B}[2J\u{7F}"#)
        #expect(visible("abc\u{202E}fed\u{2066}") == #"abc\u{202E}fed\u{2066}"#)
    }
}
