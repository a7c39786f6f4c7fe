@testable import CapstanAPI
import Testing

/// `qualifiedNameViolation` answers valid keys with a byte scan and works out the reason only
/// for bad ones: both ways must accept exactly the same keys.
@Suite("Qualified names: scan and reasons agree")
struct QualifiedNameTests {
    /// Every key of up to `length` characters over an alphabet holding each kind of character
    /// the rules treat differently.
    static func keys(upTo length: Int) -> [String] {
        let alphabet = ["a", "Z", "0", "-", "_", ".", "/"]
        var keys = [""]
        var previous = [""]
        for _ in 0..<length {
            previous = previous.flatMap { prefix in alphabet.map { prefix + $0 } }
            keys += previous
        }
        return keys
    }

    @Test("every short key over the interesting characters")
    func exhaustive() {
        for key in Self.keys(upTo: 5) {
            let problem = DNS1123.qualifiedNameProblem(key)
            #expect(DNS1123.isQualifiedName(utf8: key.utf8) == (problem == nil), "\(key): \(problem ?? "valid")")
            #expect(DNS1123.qualifiedNameViolation(key) == problem)
        }
    }

    @Test("lengths at and past the limits", arguments: [
        String(repeating: "a", count: 63), String(repeating: "a", count: 64),
        "p.io/" + String(repeating: "b", count: 63), "p.io/" + String(repeating: "b", count: 64),
        Array(repeating: String(repeating: "c", count: 63), count: 4).joined(separator: ".") + "/x",
        Array(repeating: String(repeating: "c", count: 63), count: 3).joined(separator: ".") + ".ccccccc/x",
        "é", "a/é", "é.io/a",
    ])
    func limits(key: String) {
        let problem = DNS1123.qualifiedNameProblem(key)
        #expect(DNS1123.isQualifiedName(utf8: key.utf8) == (problem == nil), "\(key.utf8.count) bytes: \(problem ?? "valid")")
    }
}
