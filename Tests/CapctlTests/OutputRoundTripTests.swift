import CapstanAPI
@testable import CapctlKit
import Testing

/// What `get -o json` and `-o yaml` print reads back as the same object.
@Suite struct CapctlOutputRoundTripTests {
    /// NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR are line breaks to a YAML reader: printed raw
    /// inside quotes they were folded into spaces on the way back.
    @Test(arguments: ["\u{85}", "\u{2028}", "\u{2029}"])
    func yamlLineBreakCharactersRoundTrip(character: String) throws {
        var pod = Pod()
        pod.metadata.name = "p"
        pod.metadata.annotations = ["note": "a\(character)b"]
        var container = Container()
        container.name = "c"
        container.image = "i"
        container.command = ["echo", "x\(character)y"]
        pod.spec.containers = [container]
        let value = try manifestValue(pod)
        for (format, text) in [("json", value.prettyText), ("yaml", YAMLWriter.document(value))] {
            let objects = try Manifest.parse(text, source: "printed.\(format)")
            let read = try #require(objects.first?.object as? Pod)
            #expect(read.metadata.annotations["note"] == "a\(character)b", "\(format):\n\(text)")
            #expect(read.spec.containers.first?.command == ["echo", "x\(character)y"], "\(format):\n\(text)")
        }
    }
}
