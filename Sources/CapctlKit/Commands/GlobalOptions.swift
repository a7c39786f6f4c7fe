public import ArgumentParser
import CapstanAPI
import CapstanHTTP2
import CapstanRPC
import Foundation

/// Options every command that talks to the API server takes.
public struct GlobalOptions: ParsableArguments, Sendable {
    @Option(help: ArgumentHelp(
        "API servers, HOST:PORT[,HOST:PORT…] (else the config file's, else 127.0.0.1:\(defaultAPIPort)).",
        valueName: "servers"))
    var server: String?

    @Option(name: [.short, .long], help: "Namespace (else the config file's, else default).")
    var namespace: String?

    @Option(help: "Bearer token (else the config file's).")
    var token: String?

    // Unconditional: `--timeout -1` reaches the check below, not "missing value".
    @Option(parsing: .unconditional, help: "Seconds each call to the server may take.")
    var timeout: Double = 10

    @Option(help: ArgumentHelp("Config file (else $CAPSTAN_CONFIG, else ~/.capstan/config).", valueName: "path"))
    var config: String?

    public init() {}

    /// The config file's path.
    var configPath: String { ConfigFile.path(explicit: config, environment: Console.current.environment) }

    /// What the command line and the config file say, resolved.
    func settings() throws(CapctlError) -> Settings {
        let file = try ConfigFile.load(from: configPath, mustExist: config != nil)
        let servers: [String]
        if let server {
            servers = try Self.serverList(server, source: "--server")
        } else if let configured = file.servers, !configured.isEmpty {
            servers = configured.map(Self.withPort)
        } else {
            servers = ["127.0.0.1:\(defaultAPIPort)"]
        }
        let timeout = try Seconds.duration(timeout, flag: "--timeout")
        if let token, let problem = Self.tokenProblem(token) { throw .usage("--token: \(problem)") }
        if token == nil, let saved = file.token, let problem = Self.tokenProblem(saved) {
            throw .config("\(configPath): the token: \(problem)")
        }
        if let namespace, namespace.isEmpty {
            throw .usage("-n needs a namespace (-A, on get, lists every namespace)")
        }
        // As `config set namespace` checks it: a namespace no object can be in is a typo.
        if let namespace, let problem = DNS1123.labelViolation(namespace) {
            throw .usage("-n \"\(namespace)\": \(problem)")
        }
        return Settings(
            servers: servers,
            namespace: namespace ?? file.namespace ?? "default",
            namespaceFlag: namespace,
            token: token ?? file.token,
            timeout: timeout)
    }

    /// What is wrong with a bearer token, if anything: it goes in an HTTP/2 header, so only
    /// visible ASCII characters (a pasted newline or space would be dropped or refused on the
    /// way), and at most 8 KiB (servers limit a request's headers; ours to 16 KiB).
    static func tokenProblem(_ token: String) -> String? {
        if let bad = token.unicodeScalars.first(where: { !(0x21...0x7E).contains($0.value) }) {
            let shown = bad.value < 0x21 || bad.value == 0x7F ? String(format: "U+%04X", bad.value) : "\"\(bad)\""
            return "a token holds only visible ASCII characters, not \(shown)"
        }
        if token.utf8.count > 8192 { return "a token of \(token.utf8.count) bytes is longer than 8 KiB" }
        return nil
    }

    /// The servers of a comma-separated list (`HOST:PORT[,HOST:PORT…]`, a missing port taken as
    /// 7443), each checked as the client will read it; a usage error naming `source` if one is bad.
    static func serverList(_ text: String, source: String) throws(CapctlError) -> [String] {
        let servers = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !servers.isEmpty else { throw .usage("\(source) needs HOST:PORT[,HOST:PORT…]") }
        var checked: [String] = []
        for server in servers.map(withPort) {
            do throws(HTTP2TransportError) {
                try HTTP2ClientTransport.checkTarget(server)
            } catch {
                throw .usage("\(source): bad server address \(server): \(error.message)")
            }
            checked.append(server)
        }
        return checked
    }

    /// `host` → `host:7443`; `HOST:PORT` and `[v6]:PORT` as they are.
    static func withPort(_ target: String) -> String {
        if target.hasPrefix("[") { return target.contains("]:") ? target : target + ":\(defaultAPIPort)" }
        return target.contains(":") ? target : target + ":\(defaultAPIPort)"
    }

    /// Runs `body` with a connection to the servers, closing it afterwards.
    func withConnection<T: Sendable>(
        _ body: (APIConnection, Settings) async throws -> T
    ) async throws -> T {
        let settings = try settings()
        let connection = try await APIConnection(targets: settings.servers, token: settings.token, timeout: settings.timeout)
        do {
            let result = try await body(connection, settings)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }
}

/// Resolved settings of a command.
struct Settings: Sendable {
    var servers: [String]
    var namespace: String
    /// The namespace `-n` gave, if it was given: a manifest object naming another namespace is
    /// refused rather than written there (`checkNamespace`).
    var namespaceFlag: String?
    var token: String?
    var timeout: Duration
}

extension Settings {
    /// Refuses a manifest object whose own namespace is not the one `-n` named: the object would
    /// go to (or be deleted from) a namespace the command line did not say.
    func checkNamespace(of object: ObjectMeta, kind: Kind, origin: String) throws(CapctlError) {
        guard kind.isNamespaced, let flag = namespaceFlag, !object.namespace.isEmpty, object.namespace != flag else { return }
        throw .manifest(
            "\(origin): metadata.namespace is \"\(object.namespace)\" but -n says \"\(flag)\": "
                + "drop one of them, or make them agree")
    }
}
