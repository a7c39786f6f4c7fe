@testable import CapctlKit
import CapstanAPI
import CapstanAPIServer
import CapstanAPIServerHost
import CapstanRPC
import CapstanTestSupport
import Foundation
import Testing

/// cluster-info, version, config, completion, colour and connection errors.
@Suite struct CapctlMiscTests {
    @Test(.timeLimit(.minutes(2)))
    func clusterInfoAndVersion() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            _ = try await CapctlOutputGoldenTests.populate(cluster)
            let info = try await cluster.ok(["cluster-info"])
            #expect(info == """
                API server: \(cluster.address) (SERVING)
                  pods: 4 (all namespaces)
                  replicationcontrollers: 1 (all namespaces)
                  services: 1 (all namespaces)
                  endpoints: 1 (all namespaces)
                  minions: 2

                """)
            let version = try await cluster.ok(["version"])
            #expect(version == "Client: capctl \(CapctlVersion.current) (API capstan.v1)\nServer: \(cluster.address) SERVING (API capstan.v1)\n")
            let client = try await cluster.capctl(["version", "--client"], server: false)
            #expect(client.code == 0)
            #expect(client.out == "Client: capctl \(CapctlVersion.current) (API capstan.v1)\n")
        }
    }

    /// Statuses print as the health API names them; cluster-info fails for a server not serving.
    @Test(.timeLimit(.minutes(2)))
    func clusterInfoFailsWhenNotServing() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            #expect(try await cluster.ok(["cluster-info"]).hasPrefix("API server: \(cluster.address) (SERVING)\n"))
            cluster.host.health.setStatus(.notServing)
            let info = try await cluster.capctl(["cluster-info"])
            #expect(info.code == 1, "\(info)")
            #expect(info.out.hasPrefix("API server: \(cluster.address) (NOT_SERVING)\n  pods: 0 (all namespaces)\n"), "\(info)")
            #expect(info.err.contains("the API server is NOT_SERVING"), "\(info)")
            let version = try await cluster.capctl(["version"])
            #expect(version.out.contains("Server: \(cluster.address) NOT_SERVING (API capstan.v1)"), "\(version)")
            // With several servers each is asked alone: one that is down is not shown as serving.
            cluster.host.health.setStatus(.serving)
            let servers = "127.0.0.1:1,\(cluster.address)"
            let both = try await cluster.capctl(["cluster-info", "--server", servers], server: false)
            #expect(both.code == 1, "\(both)")
            #expect(both.out.hasPrefix("API servers:\n  127.0.0.1:1 (") && both.out.contains("Connection refused"), "\(both)")
            #expect(both.out.contains("\n  \(cluster.address) (SERVING)\n  pods: 0 (all namespaces)\n"), "\(both)")
            #expect(both.err.contains("127.0.0.1:1 did not answer"), "\(both)")
            let versions = try await cluster.capctl(["version", "--server", servers], server: false)
            #expect(versions.code == 0, "\(versions)")
            #expect(versions.out.contains("Server: 127.0.0.1:1 ") && versions.out.contains("Connection refused"), "\(versions)")
            #expect(versions.out.contains("Server: \(cluster.address) SERVING (API capstan.v1)\n"), "\(versions)")
        }
    }

    /// A key the config file may not hold (`server:` for `servers:`) is an error naming key and file.
    @Test(.timeLimit(.minutes(1)))
    func configFileWithAnUnknownKeyIsRefused() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            try "server: 127.0.0.1:1\nnamespace: team-a\n".write(toFile: cluster.configPath, atomically: true, encoding: .utf8)
            for arguments in [["config", "view"], ["get", "pods"]] {
                let run = try await cluster.capctl(arguments, server: false)
                #expect(run.code == 1)
                #expect(run.err.contains("\(cluster.configPath): unknown key \"server\" (the keys are servers, namespace, token)"), "\(run)")
            }
        }
    }

    /// `servers:` as `config view` prints it (one comma-separated string) was refused with a
    /// decoder's type mismatch; a list works as before, and a wrong type says what to write.
    @Test(.timeLimit(.minutes(1)))
    func configServersAsOneString() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            try "servers: 127.0.0.1:1, \(cluster.address)\n".write(toFile: cluster.configPath, atomically: true, encoding: .utf8)
            let listed = try await cluster.capctl(["get", "pods"], server: false)
            #expect(listed.code == 0, "\(listed)")
            #expect(try ConfigFile.load(from: cluster.configPath).servers == ["127.0.0.1:1", cluster.address])
            try "servers:\n- \(cluster.address)\nnamespace: a\n".write(toFile: cluster.configPath, atomically: true, encoding: .utf8)
            #expect(try ConfigFile.load(from: cluster.configPath) == ConfigFile(servers: [cluster.address], namespace: "a"))
            try "namespace: a\n".write(toFile: cluster.configPath, atomically: true, encoding: .utf8)
            #expect(try ConfigFile.load(from: cluster.configPath) == ConfigFile(namespace: "a"))
            try "servers: {a: 1}\n".write(toFile: cluster.configPath, atomically: true, encoding: .utf8)
            let bad = try await cluster.capctl(["get", "pods"], server: false)
            #expect(bad.code == 1 && bad.err.contains("\(cluster.configPath): servers: expected HOST:PORT"), "\(bad)")
        }
    }

    /// Servers, namespace and token come from the config file when the command line does not say.
    @Test(.timeLimit(.minutes(2)))
    func configFileSuppliesServerNamespaceAndToken() async throws {
        let tokens = ["s3cret": Identity(name: "admin", access: .readWrite)]
        try await TestCluster.with(interceptors: [TokenAuthenticator(tokens: tokens)]) { (cluster: TestCluster) async throws in
            // No config, no --server: the default address (nothing listens there in tests, or
            // something else does); with --server but no token: refused by the server.
            let refused = try await cluster.capctl(["get", "pods"])
            #expect(refused.code == 1)
            #expect(refused.err.contains("UNAUTHENTICATED"), "\(refused)")

            #expect(try await cluster.capctl(["config", "set", "servers", "127.0.0.1:1,\(cluster.address)"], server: false).code == 0)
            #expect(try await cluster.capctl(["config", "set", "namespace", "team-a"], server: false).code == 0)
            #expect(try await cluster.capctl(["config", "set", "token", "s3cret"], server: false).code == 0)
            let view = try await cluster.capctl(["config", "view"], server: false)
            #expect(view.out == """
                # \(cluster.configPath)
                servers: 127.0.0.1:1,\(cluster.address)
                namespace: team-a
                token: <set, hidden>

                """)
            let attributes = try FileManager.default.attributesOfItem(atPath: cluster.configPath)
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "the token is readable by its owner only")

            // The first server refuses connections; capctl goes on to the second.
            let created = try await cluster.capctl(["create", "-f", "-"], stdin: "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i}]}\n", server: false)
            #expect(created.code == 0, "\(created)")
            let all = try await cluster.capctl(["get", "pods", "-A"], server: false)
            #expect(all.out.contains("team-a      p "), "created in the config's namespace:\n\(all)")
            let elsewhere = try await cluster.capctl(["get", "pods", "-n", "default", "-o", "name"], server: false)
            #expect(elsewhere.code == 0 && elsewhere.out == "")

            // --token overrides the file's.
            let wrong = try await cluster.capctl(["get", "pods", "--token", "nope"], server: false)
            #expect(wrong.code == 1)
            #expect(wrong.err.contains("UNAUTHENTICATED: unknown token"))

            #expect(try await cluster.capctl(["config", "unset", "token"], server: false).code == 0)
            #expect(try await cluster.capctl(["config", "view"], server: false).out.contains("token: <unset>"))
            let bad = try await cluster.capctl(["config", "set", "namespace", "Not Valid"], server: false)
            #expect(bad.code != 0)
        }
    }

    @Test("global options may come before the subcommand, as kubectl takes them", .timeLimit(.minutes(1)))
    func leadingGlobalOptions() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            let created = try await cluster.capctl(["--server", cluster.address, "-n", "prod", "run", "web", "--image", "nginx", "--replicas", "0"], server: false)
            #expect(created.code == 0, "\(created)")
            let listed = try await cluster.capctl(["--server=\(cluster.address)", "--namespace=prod", "--timeout", "5", "get", "rc", "-o", "name"], server: false)
            #expect(listed.code == 0 && listed.out.contains("web"), "\(listed)")
            // Nested commands: after their last name (`config view` takes --config).
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("capctl-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            let set = try await cluster.capctl(["--config", path, "config", "set", "namespace", "prod"], server: false)
            #expect(set.code == 0, "\(set)")
            let view = try await cluster.capctl(["--config", path, "config", "view"], server: false)
            #expect(view.code == 0 && view.out.contains("prod"), "\(view)")
            // A --config file that is not there is an error (a typo would silently mean the defaults);
            // `config set` creates it, and a missing $CAPSTAN_CONFIG means none, as $KUBECONFIG does.
            for words in [["get", "pods"], ["config", "view"]] {
                let missing = try await cluster.capctl(["--config", path + ".typo"] + words, server: false)
                #expect(missing.code == 1 && missing.err.contains("\(path).typo: no such config file"), "\(words): \(missing)")
            }
            let directory = try await cluster.capctl(["--config", NSTemporaryDirectory(), "config", "view"], server: false)
            #expect(directory.code == 1 && directory.err.contains("is a directory, not a config file"), "\(directory)")
            // Not before --help or --version, nor without a subcommand.
            #expect(LeadingGlobalOptions.reordered(["--version"], root: Capctl.self) == ["--version"])
            #expect(LeadingGlobalOptions.reordered(["--server", "a:1"], root: Capctl.self) == ["--server", "a:1"])
            #expect(LeadingGlobalOptions.reordered(["--server", "a:1", "get", "pods", "-w"], root: Capctl.self)
                == ["get", "--server", "a:1", "pods", "-w"])
            // Other options among the leading ones move with them (they said "Unknown option
            // '--server'"); help needs no server.
            #expect(LeadingGlobalOptions.reordered(["--server", "a:1", "-A", "get", "pods"], root: Capctl.self)
                == ["get", "--server", "a:1", "-A", "pods"])
            #expect(LeadingGlobalOptions.reordered(["--server", "a:1", "help", "get"], root: Capctl.self) == ["help", "get"])
            let all = try await cluster.capctl(["--server", cluster.address, "-A", "get", "rc", "-o", "name"], server: false)
            #expect(all.code == 0 && all.out.contains("web"), "\(all)")
            let typo = try await cluster.capctl(["--server", cluster.address, "--bogus", "get", "pods"], server: false)
            #expect(typo.code != 0 && typo.err.contains("--bogus") && !typo.err.contains("'--server'"), "\(typo)")
        }
    }

    /// A first server that takes connections but never answers (a frozen process): capctl gave
    /// it the whole deadline to connect and failed DEADLINE_EXCEEDED without trying the second.
    @Test(.timeLimit(.minutes(1)))
    func failsOverFromASilentServer() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            let silent = try SilentPort()
            // Within the default 10 s deadline.
            let run = try await cluster.capctl(["get", "pods", "--server", "127.0.0.1:\(silent.port),\(cluster.address)"], server: false)
            #expect(run.code == 0, "\(run)")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func unreachableServerFailsClearly() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            let run = try await cluster.capctl(["get", "pods", "--server", "127.0.0.1:1", "--timeout", "5"], server: false)
            #expect(run.code == 1)
            #expect(run.err.contains("UNAVAILABLE") || run.err.contains("DEADLINE_EXCEEDED"), "\(run)")
            #expect(run.err.contains("is the API server running?") || run.err.contains("DEADLINE_EXCEEDED"), "\(run)")
            let badAddress = try await cluster.capctl(["get", "pods", "--server", "no port:x"], server: false)
            #expect(badAddress.code != 0)
            let badSelector = try await cluster.capctl(["get", "pods", "-l", "a in (b"])
            #expect(badSelector.code == 1)
            #expect(badSelector.err.contains("INVALID_ARGUMENT"))
            #expect(badSelector.err.contains("at position 7, end of input"), "\(badSelector)")
        }
    }

    /// Wordings an operator audit found wrong: affinity `ClientIp`, a command's quoting lost in
    /// describe, a second `-f -` read as an empty file, no hint on a missing token.
    @Test func wordings() async throws {
        #expect(displayName(SessionAffinity.clientIp) == "ClientIP")
        #expect(displayName(PodPhase.running) == "Running")
        #expect(shellWords(["sh", "-c", "echo 'hi' there", "", "a=b,c/d"]) == #"sh -c 'echo '\''hi'\'' there' '' a=b,c/d"#)
        let console = CapturedConsole(environment: ["CAPSTAN_CONFIG": "/nonexistent/capctl-config"], stdin: "")
        #expect(await Capctl.run(arguments: ["create", "-f", "-", "-f", "-", "--server", "127.0.0.1:1"], console: console.console) == 1)
        #expect(console.err.contains("-f - (standard input) can be given once"), "\(console.err)")
        // A bad generate_name is reported as itself, not as the name made from it ("Gen_bbbbb").
        let generated = CapturedConsole(
            environment: ["CAPSTAN_CONFIG": "/nonexistent/capctl-config"],
            stdin: "kind: Pod\nmetadata: {generateName: Gen_}\nspec: {containers: [{name: c, image: i}]}\n")
        #expect(await Capctl.run(arguments: ["create", "-f", "-", "--server", "127.0.0.1:1"], console: generated.console) == 1)
        #expect(generated.err.contains("metadata.generate_name: must be the start") && !generated.err.contains("metadata.name"), "\(generated.err)")
        let unauthenticated = CapctlError.describe(RPCError(code: .unauthenticated, message: "missing authorization metadata"))
        #expect(unauthenticated.contains("capctl config set token TOKEN"))
    }

    @Test func completionScripts() async throws {
        for shell in ["bash", "zsh", "fish"] {
            let console = CapturedConsole()
            let code = await Capctl.run(arguments: ["completion", shell], console: console.console)
            #expect(code == 0)
            // Subcommands, and the kinds a KIND argument completes to.
            for word in ["get", "describe", "resize", "cluster-info", "completion", "replicationcontrollers", "svc"] {
                #expect(console.out.contains(word), "\(shell) script mentions \(word)")
            }
            let generated = CapturedConsole()
            #expect(await Capctl.run(arguments: ["--generate-completion-script", shell], console: generated.console) == 0)
            #expect(generated.out.trimmingCharacters(in: .newlines) == console.out.trimmingCharacters(in: .newlines))
        }
        let unknown = CapturedConsole()
        #expect(await Capctl.run(arguments: ["completion", "tcsh"], console: unknown.console) != 0)
        #expect(unknown.err.contains("unknown shell"))
    }

    /// ANSI colour only on a terminal, and never with NO_COLOR.
    @Test(.timeLimit(.minutes(1)))
    func colourOnlyOnATerminal() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            _ = try await CapctlOutputGoldenTests.populate(cluster)
            let piped = try await cluster.capctl(["get", "pods"])
            #expect(!piped.out.contains("\u{1B}["))
            let terminal = try await cluster.capctl(["get", "pods"], isTerminal: true)
            #expect(terminal.out.contains("\u{1B}[33mPending\u{1B}[0m"))
            #expect(terminal.out.contains("\u{1B}[1mNAME"))
            let noColor = try await cluster.capctl(["get", "pods"], isTerminal: true, environment: ["NO_COLOR": "1"])
            #expect(noColor.out == piped.out)
        }
    }

    @Test func helpAndUsageErrors() async throws {
        let help = CapturedConsole()
        #expect(await Capctl.run(arguments: ["--help"], console: help.console) == 0)
        #expect(help.out.contains("USAGE: capctl"))
        let bad = CapturedConsole()
        #expect(await Capctl.run(arguments: ["get"], console: bad.console) != 0)
        #expect(bad.err.contains("Missing expected argument"))
        let badFormat = CapturedConsole()
        #expect(await Capctl.run(arguments: ["get", "pods", "-o", "xml"], console: badFormat.console) != 0)
        #expect(badFormat.err.contains("xml"))
    }
}
