import CapctlKit
import Foundation
import Testing

/// `get` and `describe` output for every kind in every format, against golden files. The objects
/// come from Manifests/cluster.yaml (plus one pod in another namespace), created in a fixed order
/// by `capctl create`, so names, order and columns are the same on every run; `masked` replaces
/// what still varies (uids, resource versions, timestamps).
@Suite struct CapctlOutputGoldenTests {
    /// Creates the fixture objects and returns the create command's output.
    static func populate(_ cluster: TestCluster) async throws -> String {
        let created = try await cluster.ok(["create", "-f", manifestPath("cluster.yaml")])
        try await cluster.ok(["create", "-f", manifestPath("other-namespace.json")])
        return created
    }

    @Test(.timeLimit(.minutes(3)))
    func tablesYAMLJSONAndNames() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            let created = try await Self.populate(cluster)
            #expect(created == """
                minion/minion-1 created
                minion/minion-2 created
                pod/web-1 created
                pod/web-2 created
                pod/db-1 created
                replicationcontroller/web created
                service/web created
                endpoints/web created

                """)
            let kinds = ["pods", "rc", "services", "endpoints", "minions"]
            var table = "", wide = "", yaml = "", json = "", names = ""
            for kind in kinds {
                table += "$ capctl get \(kind)\n" + (try await cluster.ok(["get", kind]))
                wide += "$ capctl get \(kind) -o wide\n" + (try await cluster.ok(["get", kind, "-o", "wide"]))
                yaml += "$ capctl get \(kind) -o yaml\n" + masked(try await cluster.ok(["get", kind, "-o", "yaml"]))
                json += "$ capctl get \(kind) -o json\n" + masked(try await cluster.ok(["get", kind, "-o", "json"]))
                names += "$ capctl get \(kind) -o name\n" + (try await cluster.ok(["get", kind, "-o", "name"]))
            }
            table += "$ capctl get pods --all-namespaces\n" + (try await cluster.ok(["get", "pods", "--all-namespaces"]))
            wide += "$ capctl get pods -A -o wide\n" + (try await cluster.ok(["get", "pods", "-A", "-o", "wide"]))
            table += "$ capctl get pods -n staging\n" + (try await cluster.ok(["get", "pods", "-n", "staging"]))
            table += "$ capctl get pods -l app=web,tier=frontend\n" + (try await cluster.ok(["get", "pods", "-l", "app=web,tier=frontend"]))
            table += "$ capctl get pods --field-selector spec.host=minion-1\n"
                + (try await cluster.ok(["get", "pods", "--field-selector", "spec.host=minion-1"]))
            let none = try await cluster.capctl(["get", "pods", "-l", "app=nothing"])
            #expect(none.code == 0 && none.out == "" && none.err == "No pods found in namespace default.\n", "\(none)")
            let noneYAML = try await cluster.capctl(["get", "pods", "-l", "app=nothing", "-o", "yaml"])
            #expect(noneYAML.code == 0 && noneYAML.out == "" && noneYAML.err == "No pods found in namespace default.\n", "\(noneYAML)")
            yaml += "$ capctl get pod web-1 -o yaml\n" + masked(try await cluster.ok(["get", "pod", "web-1", "-o", "yaml"]))
            json += "$ capctl get pod web-1 -o json\n" + masked(try await cluster.ok(["get", "pod", "web-1", "-o", "json"]))
            try expectGolden("get-table.txt", table)
            try expectGolden("get-wide.txt", wide)
            try expectGolden("get-yaml.txt", yaml)
            try expectGolden("get-json.txt", json)
            try expectGolden("get-name.txt", names)
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func describeShowsRelatedObjects() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            _ = try await Self.populate(cluster)
            var text = ""
            for (kind, name) in [("pod", "web-1"), ("pod", "web-2"), ("rc", "web"), ("svc", "web"), ("ep", "web"), ("minion", "minion-1")] {
                text += "$ capctl describe \(kind) \(name)\n" + masked(try await cluster.ok(["describe", kind, name]))
            }
            try expectGolden("describe.txt", text)
            // The relations are real lookups, not copies of the object: the rc lists the pods its
            // selector matches, the minion the pods bound to it.
            #expect(text.contains("Pods:\n  NAME    IMAGE(S)"))
        }
    }

    /// yaml and json output are manifests: deleting everything and creating it again from that
    /// output gives the same objects.
    @Test(.timeLimit(.minutes(3)))
    func outputFeedsBackIntoCreate() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            _ = try await Self.populate(cluster)
            for format in ["yaml", "json"] {
                let before = try await cluster.ok(["get", "pods", "-o", "wide"])
                let manifest = try await cluster.ok(["get", "pods", "-o", format])
                try await cluster.ok(["delete", "pods", "web-1", "web-2", "db-1"])
                #expect(try await cluster.ok(["get", "pods", "-o", "name"]) == "")
                // Server-set fields (uid, resource version, creation time) are accepted and replaced.
                let created = try await cluster.ok(["create", "-f", "-"], stdin: manifest)
                #expect(created == "pod/db-1 created\npod/web-1 created\npod/web-2 created\n")
                #expect(try await cluster.ok(["get", "pods", "-o", "wide"]) == before)
            }
        }
    }

    /// Strings that YAML could read as something else survive `-o yaml` → `create -f`.
    @Test(.timeLimit(.minutes(2)))
    func trickyStringsRoundTripThroughYAML() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            let values = [
                "yes", "no", "on", "off", "true", "null", "~", "", " padded ", "123", "0x1F", "1e3", "-x", "- item",
                "a: b", "a #b", "#c", "[x]", "{y}", "*star", "&amp", "!tag", "%p", "@at", "`tick", "'single'", "\"double\"",
                "line\nbreak", "tab\there", "ünïcödé ✓", "2026-01-01T00:00:00Z", "back\\slash",
            ]
            var annotations: [String: String] = [:]
            for (i, value) in values.enumerated() { annotations["k\(i)"] = value }
            let pod = """
                {"kind": "Pod", "metadata": {"name": "tricky", "annotations": \(try String(decoding: JSONEncoder().encode(annotations), as: UTF8.self))},
                 "spec": {"containers": [{"name": "c", "image": "busybox", "command": \(try String(decoding: JSONEncoder().encode(values), as: UTF8.self))}]}}
                """
            try await cluster.ok(["create", "-f", "-"], stdin: pod)
            let json = try await cluster.ok(["get", "pod", "tricky", "-o", "json"])
            let yaml = try await cluster.ok(["get", "pod", "tricky", "-o", "yaml"])
            try await cluster.ok(["delete", "pod", "tricky"])
            try await cluster.ok(["create", "-f", "-"], stdin: yaml)
            let again = try await cluster.ok(["get", "pod", "tricky", "-o", "json"])
            #expect(masked(again) == masked(json), "yaml:\n\(yaml)")
            for value in values where !value.isEmpty {
                let escaped = String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
                #expect(again.contains(escaped.replacingOccurrences(of: "\\/", with: "/")), "\(value)")
            }
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func everySpellingOfEveryKind() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            _ = try await Self.populate(cluster)
            let spellings = [
                ["pod", "pods", "po", "Pod", "PODS"],
                ["replicationcontroller", "replicationcontrollers", "rc", "ReplicationController"],
                ["service", "services", "svc"],
                ["endpoints", "ep", "Endpoints"],
                ["minion", "minions", "mi"],
            ]
            for group in spellings {
                let expected = try await cluster.ok(["get", group[0]])
                #expect(expected.split(separator: "\n").count >= 2)
                for spelling in group.dropFirst() {
                    #expect(try await cluster.ok(["get", spelling]) == expected, "capctl get \(spelling)")
                }
            }
            let unknown = try await cluster.capctl(["get", "widgets"])
            #expect(unknown.code != 0)
            #expect(unknown.err.contains("unknown kind \"widgets\""))
            #expect(unknown.err.contains("pods (po)"))
        }
    }
}
