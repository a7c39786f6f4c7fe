import ArgumentParser
import CapstanAPI
import CapstanRPC
import Foundation

/// `capctl cluster-info`: where the API server is, whether it serves, and what it holds; fails
/// (after printing all of it) when the server is not `SERVING`.
struct ClusterInfoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster-info", abstract: "Show the API server's address and health and how many objects of each kind it holds.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let console = Console.current
        try await global.withConnection { connection, settings in
            var notServing: [String] = []
            if connection.targets.count > 1 {
                // Each server is asked alone: through the failover connection, whichever took the
                // call would answer for all of them.
                console.line("API servers:")
                for (server, health) in await healthOfEach(settings) {
                    switch health {
                    case .success(let health):
                        console.line("  \(server) (\(colored(health, console)))")
                        if health != .serving { notServing.append("\(server) is \(constantName(health))") }
                    case .failure(let error):
                        console.line("  \(server) (\(console.colored(error.code.description, .red)): \(visible(error.message)))")
                        notServing.append("\(server) did not answer")
                    }
                }
            } else {
                let health: Grpc_Health_V1_HealthCheckResponse.ServingStatus
                do {
                    health = try await connection.health()
                } catch let error as RPCError {
                    throw CapctlError.server(error, context: "API server at \(connection.targets.joined(separator: ","))")
                }
                console.line("API server: \(connection.targets.joined(separator: ",")) (\(colored(health, console)))")
                if health != .serving { notServing.append("the API server is \(constantName(health))") }
            }
            for kind in Kind.allCases {
                do {
                    let count = try await Self.count(kind.resource, connection: connection)
                    console.line("  \(kind.plural): \(count)\(kind.isNamespaced ? " (all namespaces)" : "")")
                } catch let error as RPCError {
                    throw CapctlError.server(error, context: "listing \(kind.plural)")
                }
            }
            if !notServing.isEmpty { throw CapctlError.other(notServing.joined(separator: "; ")) }
        }
    }

    private static func count<R: CLIResource>(_ type: R.Type, connection: APIConnection) async throws -> Int {
        try await connection.list(R.self, ListRequest()).items.count
    }
}

/// `capctl version`: capctl's version, and whether the server answers.
struct VersionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print capctl's version and the API server's state.")

    @Flag(help: "Only capctl's version; do not contact the server.")
    var client = false

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let console = Console.current
        console.line("Client: capctl \(CapctlVersion.current) (API capstan.v1)")
        if client { return }
        try await global.withConnection { connection, settings in
            guard connection.targets.count > 1 else {
                do {
                    let status = constantName(try await connection.health())
                    console.line("Server: \(connection.targets.joined(separator: ",")) \(status) (API capstan.v1)")
                } catch let error as RPCError {
                    throw CapctlError.server(error, context: "server \(connection.targets.joined(separator: ","))")
                }
                return
            }
            var answered = false
            for (server, health) in await healthOfEach(settings) {
                switch health {
                case .success(let health):
                    console.line("Server: \(server) \(constantName(health)) (API capstan.v1)")
                    answered = true
                case .failure(let error):
                    console.line("Server: \(server) \(error.code): \(visible(error.message))")
                }
            }
            if !answered { throw CapctlError.other("no server answered") }
        }
    }
}

private typealias ServingStatus = Grpc_Health_V1_HealthCheckResponse.ServingStatus

/// A health status as the health API names it, green when SERVING, red otherwise.
private func colored(_ health: ServingStatus, _ console: Console) -> String {
    console.colored(constantName(health), health == .serving ? .green : .red)
}

/// Each of the settings' servers' health, asked of it alone and all at once (each within 3 s at
/// most), in the order given: its status, or why it did not answer.
private func healthOfEach(_ settings: Settings) async -> [(String, Result<ServingStatus, RPCError>)] {
    await withTaskGroup(of: (Int, Result<ServingStatus, RPCError>).self) { group in
        for (index, server) in settings.servers.enumerated() {
            group.addTask {
                let connection: APIConnection
                do {
                    // A survey: a server that does not answer in 3 s is reported as such, not
                    // retried until the whole timeout.
                    connection = try await APIConnection(
                        targets: [server], token: settings.token, timeout: min(settings.timeout, .seconds(3)))
                } catch {
                    return (index, .failure(RPCError(code: .invalidArgument, message: "\(error)")))
                }
                let result: Result<ServingStatus, RPCError>
                do {
                    result = .success(try await connection.health())
                } catch {
                    result = .failure(error as? RPCError ?? RPCError(code: .unknown, message: "\(error)"))
                }
                await connection.close()
                return (index, result)
            }
        }
        var results = Array(repeating: Result<ServingStatus, RPCError>?.none, count: settings.servers.count)
        for await (index, result) in group { results[index] = result }
        return zip(settings.servers, results).map { ($0, $1 ?? .failure(RPCError(code: .unknown, message: "not asked"))) }
    }
}

/// `capctl completion bash|zsh|fish`: the shell completion script (as `--generate-completion-script`).
struct CompletionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "completion",
        abstract: "Print a shell completion script.",
        discussion: "bash: source <(capctl completion bash); zsh: capctl completion zsh > \"${fpath[1]}/_capctl\"; fish: capctl completion fish > ~/.config/fish/completions/capctl.fish")

    @Argument(help: "bash, zsh or fish.", completion: .list(["bash", "zsh", "fish"]))
    var shell: String

    func run() throws {
        guard let completionShell = CompletionShell(rawValue: shell) else {
            throw CapctlError.usage("unknown shell \"\(shell)\"; one of: bash, zsh, fish")
        }
        Console.current.write(Capctl.completionScript(for: completionShell))
    }
}

/// `capctl config view|set|unset`: the config file.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Show or change the config file (servers, namespace, token).",
        subcommands: [ConfigView.self, ConfigSet.self, ConfigUnset.self],
        defaultSubcommand: ConfigView.self)
}

/// The settings `config set` and `unset` know.
enum ConfigKey: String, ExpressibleByArgument, CaseIterable {
    case servers, server, namespace, token
}

struct ConfigView: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "view", abstract: "Print the config file's path and settings (the token hidden).")

    @Option(help: ArgumentHelp("Config file (else $CAPSTAN_CONFIG, else ~/.capstan/config).", valueName: "path"))
    var config: String?

    @Flag(name: .customLong("show-token"), help: "Print the token too.")
    var showToken = false

    func run() throws {
        let console = Console.current
        let path = ConfigFile.path(explicit: config, environment: console.environment)
        let file = try ConfigFile.load(from: path, mustExist: config != nil)
        console.line("# \(path)")
        console.line("servers: \(file.servers?.joined(separator: ",") ?? "<unset: 127.0.0.1:\(defaultAPIPort)>")")
        console.line("namespace: \(file.namespace ?? "<unset: default>")")
        let token = file.token.map { showToken ? $0 : "<set, hidden>" } ?? "<unset>"
        console.line("token: \(token)")
    }
}

struct ConfigSet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set", abstract: "Set servers (HOST:PORT[,…]), namespace or token.")

    @Argument(help: "servers, namespace or token.")
    var key: ConfigKey

    @Argument(help: "The value.")
    var value: String

    @Option(help: ArgumentHelp("Config file (else $CAPSTAN_CONFIG, else ~/.capstan/config).", valueName: "path"))
    var config: String?

    func run() throws {
        let console = Console.current
        let path = ConfigFile.path(explicit: config, environment: console.environment)
        var file = try ConfigFile.load(from: path)
        switch key {
        case .servers, .server:
            file.servers = try GlobalOptions.serverList(value, source: "servers")
        case .namespace:
            if let problem = DNS1123.labelViolation(value) { throw CapctlError.usage("namespace \"\(value)\": \(problem)") }
            file.namespace = value
        case .token:
            if let problem = GlobalOptions.tokenProblem(value) { throw CapctlError.usage("token: \(problem)") }
            file.token = value
        }
        try file.save(to: path)
        console.line("\(key == .server ? "servers" : key.rawValue) set in \(path)")
    }
}

struct ConfigUnset: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unset", abstract: "Remove servers, namespace or token.")

    @Argument(help: "servers, namespace or token.")
    var key: ConfigKey

    @Option(help: ArgumentHelp("Config file (else $CAPSTAN_CONFIG, else ~/.capstan/config).", valueName: "path"))
    var config: String?

    func run() throws {
        let console = Console.current
        let path = ConfigFile.path(explicit: config, environment: console.environment)
        var file = try ConfigFile.load(from: path)
        switch key {
        case .servers, .server: file.servers = nil
        case .namespace: file.namespace = nil
        case .token: file.token = nil
        }
        try file.save(to: path)
        console.line("\(key == .server ? "servers" : key.rawValue) unset in \(path)")
    }
}
