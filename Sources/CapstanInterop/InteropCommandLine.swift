/// The interop program's command line: gRPC's interop runner flags (grpc/grpc
/// `doc/interop-test-descriptions.md`), parsed into what to run. Parsing only, no I/O, so the
/// executable is pure wiring.
///
///     server --port N [--use_tls=false]
///     client --server_port N --test_case NAME|all [--server_host H] [--server_host_override H] [--use_tls=false]
///
/// Every flag takes `--flag=value` or `--flag value`; `--use_tls` alone means true. TLS is not
/// supported yet, so `--use_tls=true` is refused. Unknown and repeated flags are refused too, so
/// a runner expecting a feature we lack fails loudly instead of testing something else.
public struct InteropCommandLine: Sendable, Hashable {
    /// What the program is asked to be.
    public enum Role: Sendable, Hashable {
        case server(Server)
        case client(Client)
    }

    /// `server`: serve `grpc.testing.TestService` in plaintext.
    public struct Server: Sendable, Hashable {
        /// The port to listen on, 1–65535, or 0 for any free port (the server prints which).
        public var port: Int

        public init(port: Int) {
            self.port = port
        }
    }

    /// `client`: run test cases against a server in plaintext.
    public struct Client: Sendable, Hashable {
        /// The host to connect to (`--server_host`, default `localhost`).
        public var serverHost: String
        /// The host to claim in `:authority` instead of `serverHost` (`--server_host_override`).
        public var serverHostOverride: String?
        /// The port to connect to, 1–65535.
        public var serverPort: Int
        /// The cases to run, in order: one, or every case for `all`.
        public var testCases: [InteropTestCase]

        public init(serverHost: String = "localhost", serverHostOverride: String? = nil, serverPort: Int, testCases: [InteropTestCase]) {
            self.serverHost = serverHost
            self.serverHostOverride = serverHostOverride
            self.serverPort = serverPort
            self.testCases = testCases
        }

        /// The host for `:authority`: the override if given, else the server host.
        public var authorityHost: String { serverHostOverride ?? serverHost }
    }

    /// A command line that does not ask for something we can run; `message` says what is wrong.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public let message: String

        public init(_ message: String) {
            self.message = message
        }

        public var description: String { message }
    }

    public var role: Role

    public init(role: Role) {
        self.role = role
    }

    /// Parses `arguments` (without the program name).
    public init(parsing arguments: [String]) throws(ParseError) {
        guard let command = arguments.first else {
            throw ParseError("no command: expected 'server' or 'client'")
        }
        let rest = Array(arguments.dropFirst())
        switch command {
        case "server":
            let flags = try Flags(rest, known: ["port", "use_tls"], role: command)
            try flags.refuseTLS()
            role = .server(Server(port: try flags.port("port", allowZero: true)))
        case "client":
            let flags = try Flags(
                rest, known: ["server_host", "server_host_override", "server_port", "test_case", "use_tls"], role: command
            )
            try flags.refuseTLS()
            role = .client(Client(
                serverHost: try flags.host("server_host") ?? "localhost",
                serverHostOverride: try flags.host("server_host_override"),
                serverPort: try flags.port("server_port"),
                testCases: try flags.testCases("test_case")
            ))
        default:
            throw ParseError("unknown command '\(command)': expected 'server' or 'client'")
        }
    }

    /// What to print for a `ParseError`.
    public static let usage = """
        usage: capstan-interop server --port N [--use_tls=false]
               capstan-interop client --server_port N --test_case NAME|all [--server_host H] [--server_host_override H] [--use_tls=false]
        test cases: \(InteropTestCase.allCases.map(\.rawValue).joined(separator: ", "))
        """
}

/// The flags after the command, by name, with the checks that turn values into options.
private struct Flags {
    /// Flags whose value may be left out (meaning true).
    static let booleans: Set<String> = ["use_tls"]

    private var values: [String: String] = [:]

    init(_ arguments: [String], known: Set<String>, role: String) throws(InteropCommandLine.ParseError) {
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--"), argument.count > 2 else {
                throw .init("unexpected argument '\(argument)': expected a flag such as --name=value")
            }
            let flag = argument.dropFirst(2)
            let name: String
            let value: String
            if let equals = flag.firstIndex(of: "=") {
                name = String(flag[..<equals])
                value = String(flag[flag.index(after: equals)...])
            } else {
                name = String(flag)
                if Self.booleans.contains(name) {
                    // `--use_tls` alone is true; `--use_tls false` takes the next argument only if it is a boolean.
                    if index < arguments.endIndex, Self.boolean(arguments[index]) != nil {
                        value = arguments[index]
                        index += 1
                    } else {
                        value = "true"
                    }
                } else {
                    guard index < arguments.endIndex, !arguments[index].hasPrefix("--") else {
                        throw .init("--\(name) needs a value")
                    }
                    value = arguments[index]
                    index += 1
                }
            }
            guard known.contains(name) else {
                let list = known.sorted().map { "--\($0)" }.joined(separator: ", ")
                throw .init("unknown flag --\(name) for the \(role) (it takes \(list))")
            }
            guard values[name] == nil else {
                throw .init("--\(name) is given more than once")
            }
            values[name] = value
        }
    }

    /// Refuses `--use_tls=true`: only plaintext is supported so far.
    func refuseTLS() throws(InteropCommandLine.ParseError) {
        guard let text = values["use_tls"] else { return }
        guard let useTLS = Self.boolean(text) else {
            throw .init("--use_tls must be true or false, got '\(text)'")
        }
        if useTLS {
            throw .init("TLS is not supported yet: run with --use_tls=false (plaintext)")
        }
    }

    /// A required port number; `allowZero` for a server, where 0 means any free port.
    func port(_ name: String, allowZero: Bool = false) throws(InteropCommandLine.ParseError) -> Int {
        guard let text = values[name] else {
            throw .init("--\(name) is required")
        }
        let lowest = allowZero ? 0 : 1
        guard let port = Int(text), (lowest...65_535).contains(port) else {
            throw .init("--\(name) must be a port number from \(lowest) to 65535, got '\(text)'")
        }
        return port
    }

    /// An optional, non-empty host name.
    func host(_ name: String) throws(InteropCommandLine.ParseError) -> String? {
        guard let text = values[name] else { return nil }
        guard !text.isEmpty else {
            throw .init("--\(name) must not be empty")
        }
        return text
    }

    /// The required test case: a case name, or `all` for every case.
    func testCases(_ name: String) throws(InteropCommandLine.ParseError) -> [InteropTestCase] {
        guard let text = values[name] else {
            throw .init("--\(name) is required (a test case name or 'all')")
        }
        if text == "all" { return InteropTestCase.allCases }
        guard let testCase = InteropTestCase(rawValue: text) else {
            let names = InteropTestCase.allCases.map(\.rawValue).joined(separator: ", ")
            throw .init("unknown test case '\(text)': expected 'all' or one of \(names)")
        }
        return [testCase]
    }

    /// `true`/`false` (or `1`/`0`), any case; `nil` for anything else.
    static func boolean(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "1": true
        case "false", "0": false
        default: nil
        }
    }
}
