@testable import CapctlKit
import CapstanHTTP2
import CapstanRPC
import CapstanTestSupport
import Foundation
import Testing

/// create, update and delete from manifests; bad manifests give a clear error and change nothing.
@Suite struct CapctlManifestTests {
    @Test(.timeLimit(.minutes(2)))
    func createUpdateDeleteFromStdinAndFiles() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            let pod = """
                {"kind": "Pod", "metadata": {"name": "api", "labels": {"app": "api"}},
                 "spec": {"containers": [{"name": "api", "image": "api:1"}]}}
                """
            #expect(try await cluster.ok(["create", "-f", "-"], stdin: pod) == "pod/api created\n")
            let again = try await cluster.capctl(["create", "-f", "-"], stdin: pod)
            #expect(again.code == 1)
            #expect(again.err.contains("<stdin>: document 1 (line 1): ALREADY_EXISTS"), "\(again)")

            // update -f: the stored object changes (resource_version absent: unconditional).
            let updated = pod.replacingOccurrences(of: "api:1", with: "api:2")
            #expect(try await cluster.ok(["update", "-f", "-"], stdin: updated) == "pod/api updated\n")
            #expect(try await cluster.ok(["get", "pod", "api"]).contains("api:2"))

            // A stale resource_version is refused with the server's message.
            let stale = updated.replacingOccurrences(of: "\"metadata\": {\"name\": \"api\", ", with: "\"metadata\": {\"name\": \"api\", \"resourceVersion\": \"1\", ")
            let conflict = try await cluster.capctl(["update", "-f", "-"], stdin: stale)
            #expect(conflict.code == 1)
            #expect(conflict.err.contains("ABORTED"), "\(conflict)")

            // Minions have no update: said before anything is sent.
            let minion = "kind: Minion\nmetadata: {name: m1}\nspec: {address: 10.1.1.1}\n"
            try await cluster.ok(["create", "-f", "-"], stdin: minion)
            let noUpdate = try await cluster.capctl(["update", "-f", "-"], stdin: minion)
            #expect(noUpdate.code == 1)
            #expect(noUpdate.err.contains("minions cannot be updated"))

            // delete by name, by -f, by -l.
            let file = cluster.directory + "/more.yaml"
            try """
                kind: Pod
                metadata: {name: one, labels: {batch: "x"}}
                spec: {containers: [{name: c, image: busybox}]}
                ---
                kind: Pod
                metadata: {name: two, labels: {batch: "x"}}
                spec: {containers: [{name: c, image: busybox}]}
                ---
                kind: Pod
                metadata: {name: three}
                spec: {containers: [{name: c, image: busybox}]}
                """.write(toFile: file, atomically: true, encoding: .utf8)
            #expect(try await cluster.ok(["create", "-f", file]) == "pod/one created\npod/two created\npod/three created\n")
            #expect(try await cluster.ok(["delete", "pods", "-l", "batch=x"]) == "pod/one deleted\npod/two deleted\n")
            #expect(try await cluster.ok(["delete", "pod", "api"]) == "pod/api deleted\n")
            #expect(try await cluster.ok(["get", "pods", "-o", "name"]) == "pod/three\n")
            let partly = try await cluster.capctl(["delete", "-f", file])
            #expect(partly.code == 1, "two of the three are gone already")
            #expect(partly.out == "pod/three deleted\n")
            #expect(partly.err.contains("NOT_FOUND"))
            #expect(try await cluster.ok(["delete", "minion", "m1"]) == "minion/m1 deleted\n")
            let missing = try await cluster.capctl(["delete", "pod", "nope"])
            #expect(missing.code == 1)
            #expect(missing.err.contains("NOT_FOUND"))
        }
    }

    /// Each bad manifest's first document is fine; its second is not. Nothing may be created, and
    /// the error names the file, the document, the line and the field.
    @Test(.timeLimit(.minutes(2)), arguments: [
        ("bad-field.yaml", "document 2 (line 16): spec.containers[0].imagePullPolicy: unknown field \"imagePullPolicy\""),
        ("bad-type.yaml", "document 2 (line 17): spec.containers[0].ports[0].container_port: expected an integer, got \"http\""),
        ("both-spellings.yaml",
         "document 2 (line 18): spec.containers[0].ports[0].container_port: \"containerPort\" and \"container_port\" in one capstan.v1.ContainerPort are one field: give it once"),
        ("missing-kind.yaml", "document 2 (line 9): missing kind (one of Pod, ReplicationController, Service, Endpoints, Minion)"),
        ("bad-yaml.yaml", "document 2: line 13, column 5: invalid YAML: did not find expected"),
        ("invalid-pod.yaml", "document 2 (line 9): pod \"Bad_Name\" is invalid:"),
    ])
    func badManifestsChangeNothing(file: String, message: String) async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            let run = try await cluster.capctl(["create", "-f", manifestPath(file)])
            #expect(run.code == 1)
            #expect(run.out == "")
            #expect(run.err.contains("\(manifestPath(file)): \(message)"), "\(run)")
            #expect(try await cluster.ok(["get", "pods", "-o", "name"]) == "", "nothing was created")
        }
    }

    /// What the transport cannot carry (a NUL byte) or the server would refuse for its size is
    /// found with the other checks, before the first document is sent.
    @Test(.timeLimit(.minutes(2)))
    func unsendableObjectsChangeNothing() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            let good = "kind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: i}]}\n"
            let nul = good.replacingOccurrences(of: "name: a}", with: "name: b, annotations: {x: \"a\\0b\"}}")
            let run = try await cluster.capctl(["create", "-f", "-"], stdin: good + "---\n" + nul)
            #expect(run.code == 1 && run.out == "", "\(run)")
            #expect(run.err.contains("<stdin>: document 2 (line 5): cannot be sent: ") && run.err.contains("NUL"), "\(run)")
            let big = good.replacingOccurrences(
                of: "name: a}", with: "name: b, annotations: {x: \"\(String(repeating: "y", count: 1_100_000))\"}}")
            let large = try await cluster.capctl(["create", "-f", "-"], stdin: good + "---\n" + big)
            #expect(large.code == 1 && large.out == "", "\(large.err.prefix(300))")
            #expect(large.err.contains("<stdin>: document 2 (line 5): the pod is 11"), "\(large.err.prefix(300))")
            #expect(large.err.contains("the API server takes objects up to 1048576 bytes (1 MiB)"))
            #expect(try await cluster.ok(["get", "pods", "-o", "name"]) == "", "nothing was created")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func badManifestMessagesInDetail() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            // Local validation lists every bad field with its path, like the server would.
            let invalid = try await cluster.capctl(["create", "-f", manifestPath("invalid-pod.yaml")])
            #expect(invalid.err.contains("  metadata.name: "), "\(invalid)")
            #expect(invalid.err.contains("  spec.containers[0].ports[0].container_port: "), "\(invalid)")

            // The server's own validation error, with the field violations of its BadRequest detail.
            let server = try await cluster.capctl(["create", "--skip-local-validation", "-f", "-"], stdin: """
                kind: Pod
                metadata: {name: empty}
                spec: {containers: []}
                """)
            #expect(server.code == 1)
            #expect(server.err.contains("<stdin>: document 1 (line 1): INVALID_ARGUMENT: "), "\(server)")
            // One violation: the message says it, and it is not repeated below.
            #expect(server.err.components(separatedBy: "spec.containers: at least one container").count == 2, "\(server)")
            // Several: each on a line of its own after the message.
            let several = try await cluster.capctl(["create", "--skip-local-validation", "-f", "-"], stdin: """
                kind: Pod
                metadata: {name: empty, labels: {"-bad": x}}
                spec: {containers: []}
                """)
            #expect(several.code == 1)
            #expect(several.err.contains("\n  spec.containers: "), "\(several)")
            #expect(several.err.contains("\n  metadata.labels"), "\(several)")

            // A wrong type for a whole message, a list where an object belongs, an unknown kind, a bad apiVersion.
            let cases: [(String, String)] = [
                ("kind: Pod\nmetadata: {name: a}\nspec: [1, 2]\n", "document 1 (line 3): spec: expected an object, got a list"),
                ("kind: Pod\nmetadata:\n  name: a\n  labels:\n    app: [x]\n", "(line 5): metadata.labels.app: expected a string, got a list"),
                ("kind: Widget\nmetadata: {name: a}\n", "document 1 (line 1): kind: unknown kind \"Widget\""),
                ("apiVersion: v2\nkind: Pod\nmetadata: {name: a}\n", "apiVersion: only v1 is supported, got \"v2\""),
                ("- 1\n- 2\n", "expected an object with kind, got 1"),
                ("kind: Pod\nmetadata: {name: a, name: b}\n", "<stdin>: document 1: line 2, column 12: duplicate key \"name\""),
                ("", "<stdin>: no objects in the file"),
            ]
            for (manifest, expected) in cases {
                let run = try await cluster.capctl(["create", "-f", "-"], stdin: manifest)
                #expect(run.code == 1)
                #expect(run.err.contains(expected), "\(manifest)\n\(run)")
            }
            let missingFile = try await cluster.capctl(["create", "-f", cluster.directory + "/nope.yaml"])
            #expect(missingFile.code == 1)
            #expect(missingFile.err.contains("nope.yaml: no such file"))
            let noFile = try await cluster.capctl(["create"])
            #expect(noFile.code != 0)
            #expect(try await cluster.ok(["get", "pods", "-o", "name"]) == "")
        }
    }

    /// An empty or blank `-l` is refused: it would match, and delete, every object of the kind.
    @Test(.timeLimit(.minutes(2)), arguments: ["", "  "])
    func deleteWithAnEmptySelectorIsRefused(selector: String) async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            try await cluster.ok(["create", "-f", "-"], stdin: "kind: Pod\nmetadata: {name: keep}\nspec: {containers: [{name: c, image: i}]}\n")
            let run = try await cluster.capctl(["delete", "pods", "-l", selector])
            #expect(run.code == 1)
            #expect(run.err.contains("-l needs a label selector"), "\(run)")
            #expect(try await cluster.ok(["get", "pods", "-o", "name"]) == "pod/keep\n")
        }
    }

    /// YAML 1.1's `yes`/`on` and timestamps stay strings; `List` documents and JSON arrays hold several objects.
    @Test(.timeLimit(.minutes(2)))
    func listsArraysAndPlainScalars() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            let list = """
                kind: List
                items:
                - kind: Pod
                  metadata: {name: a, labels: {enabled: on, ok: yes}}
                  spec: {containers: [{name: c, image: busybox}]}
                - kind: Service
                  metadata: {name: s}
                  spec: {port: 9090, selector: {app: a}}
                """
            #expect(try await cluster.ok(["create", "-f", "-"], stdin: list) == "pod/a created\nservice/s created\n")
            #expect(try await cluster.ok(["get", "pod", "a"]).contains("enabled=on,ok=yes"))
            let array = """
                [{"kind": "Endpoints", "metadata": {"name": "s"}, "endpoints": ["10.0.0.1:80"]},
                 {"kind": "ep", "metadata": {"name": "t"}}]
                """
            #expect(try await cluster.ok(["create", "-f", "-"], stdin: array) == "endpoints/s created\nendpoints/t created\n")
        }
    }

    /// Against a server that cannot be reached, each object of a manifest waited its own retries
    /// and deadline for the same error (3,000 objects: hours). The first such failure now stops
    /// the rest; the write it reports provably never reached a server, so no "may have taken
    /// effect" hint.
    @Test(.timeLimit(.minutes(1)), arguments: ["create", "update", "delete"])
    func unreachableServerStopsTheManifest(verb: String) async throws {
        let refused = try RefusedPort()
        let pods = (1...3).map { "---\nkind: Pod\nmetadata: {name: p\($0)}\nspec: {containers: [{name: c, image: i}]}\n" }.joined()
        let console = CapturedConsole(environment: ["CAPSTAN_CONFIG": "/nonexistent/capctl-config"], stdin: pods)
        let code = await Capctl.run(
            arguments: [verb, "-f", "-", "--server", "127.0.0.1:\(refused.port)", "--timeout", "1"], console: console.console)
        #expect(code == 1)
        let errors = console.err.split(separator: "\n").filter { $0.hasPrefix("error: ") }
        #expect(errors.count == 2, "\(console.err)")
        #expect(console.err.contains("error: stopped: 2 more objects not sent"), "\(console.err)")
        #expect(console.err.contains("is the API server running?"), "\(console.err)")
        #expect(!console.err.contains("may have taken effect"), "\(console.err)")
    }

    /// A write that failed after its request may have reached the server says so.
    @Test func uncertainWritesSaySo() throws {
        let lost = RPCError(code: .unavailable, message: "the peer closed the connection")
        #expect(BatchWrite.describe(lost).hasSuffix("the write may have taken effect: check with capctl get before repeating it"))
        var unsent = RPCError(code: .unavailable, message: "no target is reachable")
        try unsent.trailers.add(HTTP2ClientTransport.unprocessedKey, "1")
        #expect(!BatchWrite.describe(unsent).contains("may have taken effect"))
        #expect(!BatchWrite.describe(RPCError(code: .alreadyExists, message: "pod default/p exists")).contains("may have"))
    }
}
