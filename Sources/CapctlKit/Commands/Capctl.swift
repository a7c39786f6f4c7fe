public import ArgumentParser
import CapstanRPC

/// `capctl`: the admin CLI of a Capstan cluster.
public struct Capctl: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "capctl",
        abstract: "Manage a Capstan cluster: get, describe, create, update and delete objects; run, resize and stop replication controllers; bind pods to minions.",
        discussion: """
            KIND is any of: \(Kind.helpList), singular or plural. Every command takes --server HOST:PORT[,…], \
            -n/--namespace, --token, --timeout SECONDS and --config PATH, before or after its name.
            """,
        version: CapctlVersion.current,
        subcommands: [
            GetCommand.self, DescribeCommand.self, CreateCommand.self, UpdateCommand.self, DeleteCommand.self,
            RunCommand.self, ResizeCommand.self, StopCommand.self, BindCommand.self, ClusterInfoCommand.self, VersionCommand.self,
            ConfigCommand.self, CompletionCommand.self,
        ])

    public init() {}

    /// Parses `arguments` (without the program name), runs the command with `console` as its
    /// standard streams, prints any error, and returns the exit code (0 on success).
    public static func run(arguments: [String], console: Console) async -> Int32 {
        await Console.$current.withValue(console) {
            let command: any ParsableCommand
            do {
                command = try parseAsRoot(LeadingGlobalOptions.reordered(arguments, root: Capctl.self))
            } catch {
                if let count = negativeResizeCount(arguments) {
                    // The parser reads `-3` as an unknown option and reports a missing count.
                    return report(CapctlError.usage("the replica count must be 0 or more, not \(count)"), console: console)
                }
                return report(error, console: console)
            }
            do {
                if var asyncCommand = command as? any AsyncParsableCommand {
                    try await asyncCommand.run()
                } else {
                    var syncCommand = command
                    try syncCommand.run()
                }
                return 0
            } catch {
                return report(error, console: console)
            }
        }
    }

    /// The negative number given as `resize`'s count (`resize web -3`), if any: a positional
    /// word, not an option's value (`--wait-timeout -5` is that option's to refuse).
    private static func negativeResizeCount(_ arguments: [String]) -> String? {
        guard let resize = arguments.firstIndex(of: ResizeCommand._commandName) else { return nil }
        let withValue = LeadingGlobalOptions.withValue.union(["--wait-timeout"])
        var index = resize + 1
        while index < arguments.count {
            let word = arguments[index]
            if word == "--" { return nil }
            if withValue.contains(word) {
                index += 2
                continue
            }
            if word.count > 1, word.first == "-", Int(word.dropFirst()) != nil { return word }
            index += 1
        }
        return nil
    }

    /// Prints `error` and returns its exit code.
    private static func report(_ error: any Error, console: Console) -> Int32 {
        switch error {
        case let error as CapctlError:
            if case .failed = error {} else { console.error(console.colored("error: ", .red) + error.description) }
            return 1
        case let error as RPCError:
            console.error(console.colored("error: ", .red) + CapctlError.describe(error))
            return 1
        default:
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { console.line(message) }
            } else if !message.isEmpty {
                console.error(message)
            }
            return code.rawValue
        }
    }
}
