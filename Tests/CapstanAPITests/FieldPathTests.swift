import CapstanAPI
import Testing

/// Field paths are kept as steps and spelled out on demand; qualified names and subdomains are
/// checked without splitting into strings. Both must read exactly as before.
@Suite("Field paths and qualified names")
struct FieldPathTests {
    @Test("paths spell out as proto field names with indexes and keys")
    func spelling() {
        #expect(FieldPath("spec").child("containers").index(0).child("ports").index(1).child("container_port").description
            == "spec.containers[0].ports[1].container_port")
        #expect(FieldPath("metadata").child("labels").key("app").description == "metadata.labels[app]")
        #expect(FieldPath("").child("name").description == "name")
        #expect(FieldPath("").index(2).description == "[2]")
        #expect(FieldPath("spec").child("host") == "spec.host")
        #expect(FieldPath("spec").child("host") != "spec.hos")
        let set: Set<FieldPath> = [FieldPath("spec").child("host"), "status.phase"]
        #expect(set.contains("spec.host") && set.contains(FieldPath("status").child("phase")))
    }

    @Test("qualified names: the same reasons as before, for each way to be wrong")
    func qualifiedNames() {
        #expect(DNS1123.qualifiedNameViolation("capstan.io/created-by") == nil)
        #expect(DNS1123.qualifiedNameViolation("a/b/c") == "key \"a/b/c\" must have at most one '/'")
        #expect(DNS1123.qualifiedNameViolation("//") == "key \"//\" must have at most one '/'")
        #expect(DNS1123.qualifiedNameViolation("/app") == "key prefix must not be empty")
        #expect(DNS1123.qualifiedNameViolation("a..b/app") == "key prefix must be lowercase DNS labels joined by '.' (\"a..b\" is not)")
        #expect(DNS1123.qualifiedNameViolation("example.com/") == "key name must not be empty")
        #expect(DNS1123.qualifiedNameViolation("example.com/-x")
            == "key name must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit (\"-x\" is not)")
        #expect(DNS1123.qualifiedNameViolation("-x") == "key must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit (\"-x\" is not)")
    }

    @Test("subdomains", arguments: [
        ("a", true), ("a.b-c.d1", true), ("capstan.io", true), ("a.", false), (".a", false), ("a..b", false),
        ("A.b", false), ("a_b.c", false), ("a.-b", false), (String(repeating: "a", count: 63) + ".b", true),
        (String(repeating: "a", count: 64) + ".b", false),
        (Array(repeating: String(repeating: "a", count: 50), count: 4).joined(separator: "."), true),
        (Array(repeating: String(repeating: "a", count: 50), count: 5).joined(separator: "."), false),
    ])
    func subdomains(name: String, valid: Bool) {
        #expect((DNS1123.subdomainViolation(name) == nil) == valid, "\(name)")
    }

    @Test("every bad label and annotation is reported, in key order")
    func labelErrorsInKeyOrder() {
        var meta = ObjectMeta()
        meta.name = "web"
        meta.namespace = "default"
        meta.labels = ["ok": "fine", "z-bad": "-v", "a/b/c": "x", "m": "also fine"]
        meta.annotations = ["zz/": "1", "capstan.io/x": "2", "B..c/d": "3"]
        let errors = Validation.metadata(meta, namespaced: true)
        #expect(errors.all.map(\.path.description) == [
            "metadata.labels[a/b/c]", "metadata.labels[m]", "metadata.labels[z-bad]",
            "metadata.annotations[B..c/d]", "metadata.annotations[zz/]",
        ])
    }
}
