import ArgumentParser

/// `capctl --server HOST:PORT get pods`, as kubectl takes its global flags: the options every
/// API command takes (`GlobalOptions`) may come before the subcommand too. They are moved to
/// just after the subcommand's name (`get --server HOST:PORT pods`), where the parser takes
/// them; a command that does not take them then says so as it would anyway.
enum LeadingGlobalOptions {
    /// Options with a value, by every spelling before the subcommand.
    static let withValue: Set<String> = ["--server", "--namespace", "-n", "--token", "--timeout", "--config"]

    /// Options that end the leading ones (the root's own, and the terminator).
    static let staysFirst: Set<String> = ["--help", "-h", "--version", "--"]

    /// `arguments` with the global options before the subcommand moved after its name (for
    /// nested commands, after the last name: `config set`). Unchanged when nothing leads, when a
    /// leading option is not one of them (`--help`, `--version`), or when no subcommand follows.
    static func reordered(_ arguments: [String], root: any ParsableCommand.Type) -> [String] {
        var leading: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if let equals = argument.firstIndex(of: "="), withValue.contains(String(argument[..<equals])) {
                leading.append(argument)
                index += 1
            } else if withValue.contains(argument), index + 1 < arguments.count {
                leading.append(contentsOf: arguments[index...index + 1])
                index += 2
            } else if argument.hasPrefix("-"), argument.count > 1, !Self.staysFirst.contains(argument) {
                // Another option (`-A`, a typo): it moves too, so that the subcommand's parser
                // takes it or names it, rather than the root's parser refusing `--server`.
                leading.append(argument)
                index += 1
            } else {
                break
            }
        }
        guard !leading.isEmpty, index < arguments.count else { return arguments }
        // `capctl --server X help get`: help needs no server.
        if arguments[index] == "help" { return Array(arguments[index...]) }
        // The subcommand's names: as deep as the command tree goes.
        var command = root
        var end = index
        while end < arguments.count,
            let sub = command.configuration.subcommands.first(where: {
                $0._commandName == arguments[end] || $0.configuration.aliases.contains(arguments[end])
            })
        {
            command = sub
            end += 1
        }
        guard end > index else { return arguments }
        return Array(arguments[index..<end]) + leading + Array(arguments[end...])
    }
}
