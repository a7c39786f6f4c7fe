public import ArgumentParser
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

    @Option(help: "Seconds each call to the server may take.")
    var timeout: Double = 10

    @Option(help: ArgumentHelp("Config file (else $CAPSTAN_CONFIG, else ~/.capstan/config).", valueName: "path"))
    var config: String?

    public init() {}

    /// The config file's path.
    var configPath: String { ConfigFile.path(explicit: config, environment: Console.current.environment) }

    /// What the command line and the config file say, resolved.
    func settings() throws(CapctlError) -> Settings {
        let file = try ConfigFile.load(from: configPath)
        var servers: [String]
        if let server {
            servers = server.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if servers.isEmpty { throw .usage("--server needs HOST:PORT[,HOST:PORT…]") }
        } else if let configured = file.servers, !configured.isEmpty {
            servers = configured
        } else {
            servers = ["127.0.0.1:\(defaultAPIPort)"]
        }
        servers = servers.map(Self.withPort)
        let timeout = try Seconds.duration(timeout, flag: "--timeout")
        return Settings(
            servers: servers,
            namespace: namespace ?? file.namespace ?? "default",
            token: token ?? file.token,
            timeout: timeout)
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
    var token: String?
    var timeout: Duration
}
