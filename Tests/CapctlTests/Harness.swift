import CapctlKit
import CapstanAPIServer
import CapstanAPIServerHost
import CapstanHTTP2
import CapstanRPC
import CapstanTestSupport
import Foundation
import Testing

/// What one capctl run printed and returned.
struct Run: Sendable, CustomStringConvertible {
    let out: String
    let err: String
    let code: Int32
    var description: String { "exit \(code)\n--- stdout\n\(out)--- stderr\n\(err)" }
}

/// A real API server (HTTP/2 on a random loopback port, SQLite in a temporary directory) and a
/// config file path of its own, so no test reads the user's `~/.capstan/config`.
final class TestCluster: Sendable {
    let host: APIServerHost
    let directory: String
    var address: String { host.address }
    var configPath: String { directory + "/capctl-config" }

    private init(host: APIServerHost, directory: String) {
        self.host = host
        self.directory = directory
    }

    /// Starts a server with `options`, runs `body`, stops the server and removes the directory.
    static func with<T: Sendable>(
        options: APIServerOptions = APIServerOptions(), interceptors: [any ServerInterceptor] = [],
        _ body: @Sendable (TestCluster) async throws -> T
    ) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("capctl-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory + "/store", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let host = try await APIServerHost.start(
            store: .sqlite(directory + "/store"), options: options, interceptors: interceptors, loops: 1)
        let cluster = TestCluster(host: host, directory: directory)
        do {
            let result = try await body(cluster)
            await host.stop()
            return result
        } catch {
            await host.stop()
            throw error
        }
    }

    /// The environment capctl runs with: this cluster's config file, no colour preference.
    var environment: [String: String] { ["CAPSTAN_CONFIG": configPath, "HOME": directory] }

    /// Runs capctl in-process with `--server` pointing at this cluster (inserted after the
    /// subcommand words), `stdin` as standard input; bounded to 60 s.
    func capctl(_ arguments: [String], stdin: String = "", server: Bool = true, isTerminal: Bool = false,
                environment extra: [String: String] = [:]) async throws -> Run {
        var arguments = arguments
        if server { arguments.insert(contentsOf: ["--server", address], at: Self.insertionPoint(arguments)) }
        let console = CapturedConsole(
            environment: environment.merging(extra) { $1 }, isTerminal: isTerminal, stdin: stdin)
        let args = arguments
        let code = try await bounded("capctl \(args.joined(separator: " "))") {
            await Capctl.run(arguments: args, console: console.console)
        }
        return Run(out: console.out, err: console.err, code: code)
    }

    /// After the subcommand (`get`, `config set`, …): before the first option or argument after it.
    static func insertionPoint(_ arguments: [String]) -> Int {
        if let terminator = arguments.firstIndex(of: "--") { return terminator }
        return arguments.isEmpty ? 0 : 1
    }

    /// Runs capctl, expecting success; records the output when it fails.
    @discardableResult
    func ok(_ arguments: [String], stdin: String = "", sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let run = try await capctl(arguments, stdin: stdin)
        #expect(run.code == 0, "capctl \(arguments.joined(separator: " ")) failed:\n\(run)", sourceLocation: sourceLocation)
        return run.out
    }

    /// Typed clients on a connection of the test's own (to set what no capctl command sets).
    func withClient<T: Sendable>(_ body: @Sendable (RPCClient) async throws -> T) async throws -> T {
        try await Self.withClient(address: address, body)
    }

    /// The same, to the server at `address`.
    static func withClient<T: Sendable>(address: String, _ body: @Sendable (RPCClient) async throws -> T) async throws -> T {
        let group = try EventLoopGroup(threads: 1)
        let transport = try HTTP2ClientTransport(targets: [address], group: group)
        return try await withCleanup({
            await transport.close()
            await group.shutdown()
        }) { try await body(RPCClient(transport: transport)) }
    }
}

/// The package's root directory.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// A manifest under Tests/CapctlTests/Manifests, by file name.
func manifestPath(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Manifests/\(name)").path
}

/// Output with what changes from run to run replaced by placeholders, so it can be compared with
/// a golden file: uids (`<uid>`), resource versions (`<rv>`, in JSON, YAML and describe) and
/// timestamps (`<time>`). Everything else — names, order, columns — comes from objects the test
/// creates in a fixed order, so it is the same on every run.
func masked(_ text: String) -> String {
    var text = text
    let rules: [(String, String)] = [
        // YAML quotes a uid only when it starts with a digit: mask the quotes with it.
        (#"uid: "?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"?"#, "uid: <uid>"),
        (#"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"#, "<uid>"),
        (#""resourceVersion": "\d+""#, #""resourceVersion": "<rv>""#),
        (#"resourceVersion: "\d+""#, #"resourceVersion: "<rv>""#),
        (#"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"#, "<time>"),
    ]
    for (pattern, replacement) in rules {
        text = text.replacingOccurrences(of: pattern, with: replacement, options: .regularExpression)
    }
    return text
}

/// Compares `actual` with Golden/`name`; `CAPSTAN_UPDATE_GOLDEN=1` rewrites the file instead.
func expectGolden(_ name: String, _ actual: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/\(name)").path
    if ProcessInfo.processInfo.environment["CAPSTAN_UPDATE_GOLDEN"] == "1" {
        try actual.write(toFile: path, atomically: true, encoding: .utf8)
        return
    }
    guard let expected = try? String(contentsOfFile: path, encoding: .utf8) else {
        Issue.record("missing golden file \(name); run with CAPSTAN_UPDATE_GOLDEN=1", sourceLocation: sourceLocation)
        return
    }
    #expect(actual == expected, "\(name) differs from its golden file:\n\(actual)", sourceLocation: sourceLocation)
}
