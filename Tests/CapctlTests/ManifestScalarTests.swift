import CapstanAPI
@testable import CapctlKit
import Testing

/// Manifest scalars follow YAML 1.2's core schema; explicit tags are honoured or refused.
@Suite struct CapctlManifestScalarTests {
    static func controller(replicas: String, extra: String = "") -> String {
        """
        kind: ReplicationController
        metadata: {name: web}
        spec:
          replicas: \(replicas)
          selector: {app: web}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers:
              - name: c
                image: i\(extra)
        """
    }

    /// YAML 1.1 read `010` as 8 and `0x10`-style and base-60 forms its own way; 1.2 reads decimals as written.
    @Test(arguments: [("010", 10), ("+7", 7), ("0x10", 16), ("0o17", 15), ("0", 0)])
    func integers(text: String, value: Int32) throws {
        let objects = try Manifest.parse(Self.controller(replicas: text), source: "rc.yaml")
        let rc = try #require(objects.first?.object as? ReplicationController)
        #expect(rc.spec.replicas == value)
    }

    /// Base-60 numbers (which overflowed inside Yams) and 1.1's `0755` octal are plain strings
    /// or decimals, as YAML 1.2 reads them.
    @Test func sexagesimalAndOctalLookalikes() throws {
        let text = """
            kind: Pod
            metadata:
              name: p
              annotations: {a: 1:0:0:0:0:0:0:0:0:0:0, b: 999999999999999999:0, c: "0755"}
            spec: {containers: [{name: c, image: i}]}
            """
        let pod = try #require(try Manifest.parse(text, source: "p.yaml").first?.object as? Pod)
        #expect(pod.metadata.annotations == ["a": "1:0:0:0:0:0:0:0:0:0:0", "b": "999999999999999999:0", "c": "0755"])
    }

    /// Each error names the document, the line and the field, and shows the scalar as written.
    @Test(arguments: [
        (controller(replicas: "!!bool maybe"), "rc.yaml: document 1 (line 4): spec.replicas: !!bool \"maybe\" is not true or false"),
        (controller(replicas: "!!null x"), "rc.yaml: document 1 (line 4): spec.replicas: !!null \"x\" is not null"),
        (controller(replicas: "!!int abc"), "rc.yaml: document 1 (line 4): spec.replicas: !!int \"abc\" is not an integer"),
        (controller(replicas: "!!float x1"), "rc.yaml: document 1 (line 4): spec.replicas: !!float \"x1\" is not a number"),
        (controller(replicas: "!custom 1"), "rc.yaml: document 1 (line 4): spec.replicas: the tag !custom is not supported"),
        (controller(replicas: "1:0:0:0:0:0:0:0:0:0:0"), "(line 4): spec.replicas: expected an integer, got \"1:0:0:0:0:0:0:0:0:0:0\""),
        (controller(replicas: "0x1FFFFFFFFFFFFFFFF"), "(line 4): spec.replicas: 0x1FFFFFFFFFFFFFFFF is out of range for a 64-bit integer"),
        (controller(replicas: "0x100000000"), "(line 4): spec.replicas: 0x100000000 is out of range for int32 (-2147483648 to 2147483647)"),
        (controller(replicas: "1", extra: "\n        ports: [{container_port: 4294967296}]"),
         "(line 12): spec.template.spec.containers[0].ports[0].container_port: 4294967296 is out of range for int32"),
        (controller(replicas: "1", extra: "\n        env: [{name: MODE, value: 0755}]"),
         "(line 12): spec.template.spec.containers[0].env[0].value: expected a string, got 0755"),
        (controller(replicas: "1.5"), "(line 4): spec.replicas: expected an integer, got 1.5"),
    ])
    func errorsNameTheField(manifest: String, message: String) {
        do {
            let objects = try Manifest.parse(manifest, source: "rc.yaml")
            Issue.record("read without error: \(objects.map(\.object))")
        } catch {
            #expect(error.description.contains(message), "\(error)")
        }
    }
}
