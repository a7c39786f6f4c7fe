import CapstanRPC
import Foundation
import Testing

@testable import CapctlKit

/// What capctl checks in what it is given before it acts: a manifest's namespace against `-n`,
/// namespaces and names together, server addresses and tokens; where manifests come from
/// (directories); and `bind`, the command the server's own error points to.
@Suite struct CapctlCommandLineChecksTests {
    static let elsewhere = "kind: Pod\nmetadata: {name: nsp, namespace: other}\nspec: {containers: [{name: c, image: i}]}\n"

    /// A manifest naming one namespace and `-n` another: refused before anything is sent,
    /// by create, update and delete alike; without `-n`, or with the same one, it goes ahead.
    @Test(.timeLimit(.minutes(2)))
    func manifestNamespaceMustAgreeWithTheFlag() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            let refused = try await cluster.capctl(["create", "-f", "-", "-n", "third"], stdin: Self.elsewhere)
            #expect(refused.code == 1)
            #expect(refused.err.contains("metadata.namespace is \"other\" but -n says \"third\""), "\(refused)")
            #expect(try await cluster.ok(["get", "pods", "-A", "-o", "name"]) == "", "nothing was created")

            #expect(try await cluster.ok(["create", "-f", "-"], stdin: Self.elsewhere) == "pod/nsp created\n")
            let update = try await cluster.capctl(["update", "-f", "-", "-n", "third"], stdin: Self.elsewhere)
            #expect(update.code == 1 && update.err.contains("but -n says"), "\(update)")
            let delete = try await cluster.capctl(["delete", "-f", "-", "-n", "third"], stdin: Self.elsewhere)
            #expect(delete.code == 1 && delete.err.contains("but -n says"), "\(delete)")
            #expect(try await cluster.ok(["get", "pods", "-A", "-o", "name"]) == "pod/nsp\n", "other/nsp is still there")
            #expect(try await cluster.ok(["delete", "-f", "-", "-n", "other"], stdin: Self.elsewhere) == "pod/nsp deleted\n")

            // A manifest without a namespace takes -n's.
            let plain = "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i}]}\n"
            try await cluster.ok(["create", "-f", "-", "-n", "third"], stdin: plain)
            #expect(try await cluster.ok(["get", "pods", "-n", "third", "-o", "name"]) == "pod/p\n")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func emptyNamespaceAndANameInEveryNamespaceAreRefused() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            let empty = try await cluster.capctl(["get", "pods", "-n", ""])
            #expect(empty.code == 1)
            #expect(empty.err.contains("-n needs a namespace"), "\(empty)")
            let named = try await cluster.capctl(["get", "pods", "web", "-A"])
            #expect(named.code == 1)
            #expect(named.err.contains("a NAME cannot be looked up in every namespace"), "\(named)")
            // Minions have no namespace: -A changes nothing for them, with a NAME or not.
            try await cluster.ok(["create", "-f", "-"], stdin: "kind: Minion\nmetadata: {name: m1}\n")
            #expect(try await cluster.ok(["get", "minion", "m1", "-A", "-o", "name"]) == "minion/m1\n")
            #expect(try await cluster.ok(["get", "endpoint", "-o", "name"]) == "", "the singular spelling is a kind")
        }
    }

    /// `KIND/NAME` (what `-o name` prints) names objects in get, describe and delete, and get takes
    /// several names, as kubectl does.
    @Test(.timeLimit(.minutes(2)))
    func kindSlashNameAndSeveralNames() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            for name in ["a", "b", "c"] {
                try await cluster.ok(
                    ["create", "-f", "-"], stdin: "kind: Pod\nmetadata: {name: \(name)}\nspec: {containers: [{name: c, image: i}]}\n")
            }
            #expect(try await cluster.ok(["get", "pod/a", "po/b", "-o", "name"]) == "pod/a\npod/b\n")
            #expect(try await cluster.ok(["get", "pods", "c", "a", "-o", "name"]) == "pod/c\npod/a\n")
            #expect(try await cluster.ok(["get", "pod/a", "-o", "json"]).contains("\"kind\": \"Pod\""))
            #expect(try await cluster.ok(["describe", "pod/b"]).hasPrefix("Name:"))
            // The ones found are printed; each missing one is an error, and the exit code says so.
            let some = try await cluster.capctl(["get", "pods", "a", "nope", "-o", "name"])
            #expect(some.code == 1 && some.out == "pod/a\n" && some.err.contains("pod/nope: NOT_FOUND"), "\(some)")
            for (words, says) in [
                (["get", "pod/a", "service/b"], "one kind at a time: pod/a and service/b"),
                (["get", "pods", "pod/a"], "after a KIND give NAMEs alone"),
                (["get", "pod/"], "expected KIND/NAME"),
                (["get", "pods", "a", "b", "-w"], "-w follows one NAME"),
                (["describe", "pods"], "describe one object"),
                (["describe", "pod/a", "b"], "\"b\": expected KIND/NAME"),
            ] {
                let refused = try await cluster.capctl(words)
                #expect(refused.code != 0 && refused.err.contains(says), "\(words): \(refused)")
            }
            // What `get -o name` prints deletes them.
            let names = try await cluster.ok(["get", "pods", "-o", "name"]).split(separator: "\n").map(String.init)
            #expect(try await cluster.ok(["delete"] + names) == "pod/a deleted\npod/b deleted\npod/c deleted\n")
        }
    }

    /// Text from the server is printed so that it keeps to its line and cannot drive the terminal;
    /// a cluster-scoped manifest's namespace is dropped, as kubectl drops it; a bad -n is a usage
    /// error; a selector's syntax error is said once.
    @Test(.timeLimit(.minutes(2)))
    func textFromTheServerNamespacesAndSelectorErrors() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            let pod = """
                {"kind": "Pod", "metadata": {"name": "a", "annotations": {"note": "line1\\nline2\\u001b[2J"}},
                 "spec": {"containers": [{"name": "c", "image": "i\\u001b]0;title\\u0007"}]}}
                """
            try await cluster.ok(["create", "-f", "-"], stdin: pod)
            let described = try await cluster.ok(["describe", "pod", "a"])
            #expect(described.contains("note=line1\\nline2\\u{1B}[2J\n"), "\(described)")
            #expect(described.contains("Image:        i\\u{1B}]0;title\\u{7}\n"), "\(described)")
            #expect(!described.contains("\u{1B}"))
            let table = try await cluster.ok(["get", "pods", "-o", "wide"])
            #expect(!table.contains("\u{1B}") && table.contains("i\\u{1B}]0;title\\u{7}"), "\(table)")

            try await cluster.ok(["create", "-f", "-"], stdin: "kind: Minion\nmetadata: {name: m1, namespace: default}\n")
            #expect(try await cluster.ok(["get", "minion", "m1", "-o", "name"]) == "minion/m1\n")

            let badNamespace = try await cluster.capctl(["get", "pods", "-n", "Bad NS"])
            #expect(badNamespace.code != 0 && badNamespace.err.contains("-n \"Bad NS\": "), "\(badNamespace)")

            let selector = try await cluster.capctl(["get", "pods", "-l", "app in ("])
            #expect(selector.code == 1)
            #expect(selector.err.components(separatedBy: "at position 8, end of input").count == 2, "said once: \(selector)")
        }
    }

    /// A directory stands for its manifest files, in name order; other files are left alone.
    @Test(.timeLimit(.minutes(2)))
    func manifestsFromADirectory() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            let directory = cluster.directory + "/manifests"
            try FileManager.default.createDirectory(atPath: directory + "/nested", withIntermediateDirectories: true)
            try "kind: Minion\nmetadata: {name: m1}\n".write(toFile: directory + "/a.yaml", atomically: true, encoding: .utf8)
            try #"{"kind": "Pod", "metadata": {"name": "p1"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}"#
                .write(toFile: directory + "/b.json", atomically: true, encoding: .utf8)
            try "not a manifest".write(toFile: directory + "/notes.txt", atomically: true, encoding: .utf8)
            try "kind: Minion\nmetadata: {name: deeper}\n".write(toFile: directory + "/nested/c.yaml", atomically: true, encoding: .utf8)
            #expect(try await cluster.ok(["create", "-f", directory]) == "minion/m1 created\npod/p1 created\n")
            #expect(try await cluster.ok(["delete", "-f", directory]) == "pod/p1 deleted\nminion/m1 deleted\n")

            try FileManager.default.createDirectory(atPath: directory + "/empty", withIntermediateDirectories: true)
            let empty = try await cluster.capctl(["create", "-f", directory + "/empty"])
            #expect(empty.code == 1)
            #expect(empty.err.contains("a directory with no .yaml, .yml or .json files"), "\(empty)")
            let missing = try await cluster.capctl(["create", "-f", directory + "/nope.yaml"])
            #expect(missing.code == 1 && missing.err.contains("nope.yaml: no such file"), "\(missing)")
        }
    }

    /// `bind` places an unscheduled pod on a minion; the server's refusal to change a host by
    /// update points to it.
    @Test(.timeLimit(.minutes(2)))
    func bindPlacesAPod() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            try await cluster.ok(["create", "-f", "-"], stdin: "kind: Minion\nmetadata: {name: m1}\n")
            let pod = "kind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: c, image: i}]}\n"
            try await cluster.ok(["create", "-f", "-"], stdin: pod)
            let moved = try await cluster.capctl(
                ["update", "-f", "-"], stdin: pod.replacingOccurrences(of: "spec: {", with: "spec: {host: m1, "))
            #expect(moved.code == 1)
            #expect(moved.err.contains("use Bindings/Create to place the pod on a minion\n  with capctl: capctl bind POD MINION"), "\(moved)")

            #expect(try await cluster.ok(["bind", "web", "m1"]) == "pod/web bound to minion/m1\n")
            #expect(try await cluster.ok(["get", "pod", "web", "-o", "wide"]).contains(" m1 "))
            let again = try await cluster.capctl(["bind", "web", "m1"])
            #expect(again.code == 1 && again.err.contains("FAILED_PRECONDITION"), "\(again)")
            let noMinion = try await cluster.capctl(["bind", "web", "m9"])
            #expect(noMinion.code == 1)
            let noPod = try await cluster.capctl(["bind", "nope", "m1"])
            #expect(noPod.code == 1 && noPod.err.contains("NOT_FOUND"), "\(noPod)")
        }
    }

    /// Server addresses and tokens are checked when they are given (on the command line or to
    /// `config set`), not at the next command's connection.
    @Test(.timeLimit(.minutes(1)))
    func serversAndTokensAreCheckedWhenGiven() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            for (servers, message) in [
                (" , ", "servers needs HOST:PORT"), ("bad:port", "'port' is not a port"),
                ("foo_bar", "neither a numeric IPv4/IPv6 address nor a DNS name"),
            ] {
                let run = try await cluster.capctl(["config", "set", "servers", servers], server: false)
                #expect(run.code == 1 && run.err.contains(message), "\(servers): \(run)")
            }
            let view = try await cluster.capctl(["config", "view"], server: false)
            #expect(view.out.contains("servers: <unset"), "nothing was saved: \(view)")
            let flag = try await cluster.capctl(["get", "pods", "--server", "127.0.0.1:1,foo_bar"], server: false)
            #expect(flag.code == 1 && flag.err.contains("--server: bad server address foo_bar:7443"), "\(flag)")

            let newline = try await cluster.capctl(["get", "pods", "--token", "secret\n"])
            #expect(newline.code == 1)
            #expect(newline.err.contains("--token: a token holds only visible ASCII characters, not U+000A"), "\(newline)")
            let long = try await cluster.capctl(["get", "pods", "--token", String(repeating: "t", count: 10_000)])
            #expect(long.code == 1 && long.err.contains("longer than 8 KiB"), "\(long)")
            let saved = try await cluster.capctl(["config", "set", "token", "a b"], server: false)
            #expect(saved.code == 1 && saved.err.contains("not U+0020"), "\(saved)")
        }
    }

    /// The hint to start a server follows only our client's own "no target is reachable", not
    /// a server's answer that its store is unreachable (whose etcd client says the same words).
    @Test func serverHintOnlyWhenNoServerAnswers() {
        let unreachable = CapctlError.describe(RPCError(code: .unavailable, message: "no target is reachable; last error: connection refused"))
        #expect(unreachable.contains("is the API server running?"))
        let store = CapctlError.describe(RPCError(
            code: .unavailable, message: "store unavailable: etcd: no target is reachable; last error: connection refused; retry"))
        #expect(!store.contains("is the API server running?"), "\(store)")
    }

    /// `describe pod` shows every part of a container a person sets, and the pod's volumes.
    @Test(.timeLimit(.minutes(1)))
    func describeShowsEveryContainerPart() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            try await cluster.ok(["create", "-f", "-"], stdin: """
                kind: Pod
                metadata: {name: full}
                spec:
                  volumes:
                  - {name: scratch, emptyDir: {}}
                  - {name: logs, hostDir: {path: /var/log}}
                  containers:
                  - name: app
                    image: app:1
                    workingDir: /srv
                    resources: {cpuMillis: 250, memoryBytes: 134217728}
                    volumeMounts:
                    - {name: scratch, mountPath: /tmp}
                    - {name: logs, mountPath: /logs, readOnly: true}
                    livenessProbe: {httpGet: {path: /healthz, port: 8080}, initialDelaySeconds: 5, periodSeconds: 10}
                  - name: side
                    image: side:1
                    livenessProbe: {exec: {command: [cat, /ok]}}
                """)
            let text = try await cluster.ok(["describe", "pod", "full"])
            for expected in [
                "    Working Dir:  /srv\n", "    Resources:    cpu 250m, memory 128Mi\n", "    Mount:        scratch at /tmp\n",
                "    Mount:        logs at /logs (read-only)\n",
                "    Liveness:     http-get http://<pod IP>:8080/healthz delay=5s period=10s\n",
                "    Liveness:     exec [cat /ok]\n",
                "Volumes:\n  scratch: empty directory (lives as long as the pod)\n  logs: host directory /var/log\n",
            ] {
                #expect(text.contains(expected), "\(expected) in:\n\(text)")
            }
            // A minion that states no capacity shows none, not zeros; one that states some, only that.
            try await cluster.ok(["create", "-f", "-"], stdin: "kind: Minion\nmetadata: {name: bare}\n---\nkind: Minion\nmetadata: {name: some}\nspec: {capacity: {pods: 10}}\n")
            #expect(try await cluster.ok(["describe", "minion", "bare"]).contains("Capacity:            <none>\n"))
            #expect(try await cluster.ok(["describe", "minion", "some"]).contains("Capacity:            pods 10\n"))
        }
    }

    /// A negative number reaches its flag's check (ArgumentParser took `-1` for an option and
    /// said "Missing value"); a broken `.json` file is called invalid JSON.
    @Test(.timeLimit(.minutes(1)))
    func negativeNumbersAndBrokenJSONAreExplained() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            let timeout = try await cluster.capctl(["get", "pods", "--timeout", "-1"])
            #expect(timeout.code == 1 && timeout.err.contains("--timeout must be a number of seconds"), "\(timeout)")
            let replicas = try await cluster.capctl(["run", "web", "--image", "nginx", "--replicas", "-1"])
            #expect(replicas.code == 1 && replicas.err.contains("--replicas must be 0 or more"), "\(replicas)")
            let path = cluster.directory + "/broken.json"
            try #"{"kind": "Pod","#.write(toFile: path, atomically: true, encoding: .utf8)
            let broken = try await cluster.capctl(["create", "-f", path])
            #expect(broken.code == 1 && broken.err.contains("broken.json: document 1: line ") && broken.err.contains(": invalid JSON: "), "\(broken)")
        }
    }
}
