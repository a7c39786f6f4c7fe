public import Foundation
import Synchronization

/// Where a command's output goes and where its input comes from: the process's streams for the
/// executable, memory buffers for tests. Commands reach it through `Console.current`.
public final class Console: Sendable {
    private let writeOut: @Sendable (String) -> Void
    private let writeErr: @Sendable (String) -> Void
    private let readIn: @Sendable () -> Data
    /// Whether standard output is a terminal (progress lines are rewritten in place there).
    public let isTerminal: Bool
    /// Whether ANSI colour may be used: a terminal, and NO_COLOR is not set.
    public let useColor: Bool
    /// The environment commands read (`HOME`, `CAPSTAN_CONFIG`, `NO_COLOR`).
    public let environment: [String: String]

    public init(
        isTerminal: Bool = false,
        environment: [String: String] = [:],
        out: @escaping @Sendable (String) -> Void,
        err: @escaping @Sendable (String) -> Void,
        stdin: @escaping @Sendable () -> Data = { Data() }
    ) {
        self.isTerminal = isTerminal
        self.useColor = isTerminal && environment["NO_COLOR"] == nil
        self.environment = environment
        self.writeOut = out
        self.writeErr = err
        self.readIn = stdin
    }

    /// Writes `text` to standard output as is.
    public func write(_ text: String) { writeOut(text) }
    /// Writes one line to standard output.
    public func line(_ text: String = "") { writeOut(text + "\n") }
    /// Writes one line to standard error.
    public func error(_ text: String) { writeErr(text + "\n") }
    /// All of standard input.
    public func readStandardInput() -> Data { readIn() }

    /// `text` in `color` when colour is on.
    func colored(_ text: String, _ color: ANSIColor) -> String {
        useColor ? "\u{1B}[\(color.rawValue)m\(text)\u{1B}[0m" : text
    }

    /// The process's own streams.
    public static func standard() -> Console {
        Console(
            isTerminal: isatty(STDOUT_FILENO) == 1,
            environment: ProcessInfo.processInfo.environment,
            out: { text in
                do {
                    try FileHandle.standardOutput.write(contentsOf: Data(text.utf8))
                } catch {
                    outputFailed(error)
                }
            },
            err: { text in
                // Nowhere is left to report a failure to write errors; the exit code still tells.
                try? FileHandle.standardError.write(contentsOf: Data(text.utf8))
            },
            stdin: { (try? FileHandle.standardInput.readToEnd()) ?? Data() })
    }

    /// Ends the process when standard output cannot be written (a full disk, a reader that went
    /// away while SIGPIPE is ignored): the output would be incomplete, so the exit code is 1. A
    /// closed pipe is not reported (its reader stopped on purpose, as `| head` does); any other
    /// failure is, on standard error.
    private static func outputFailed(_ error: any Error) -> Never {
        // Foundation wraps the system's error (errno) as the underlying error.
        let posix = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError).flatMap {
            $0.domain == NSPOSIXErrorDomain ? Int32($0.code) : nil
        }
        if posix != EPIPE {
            let reason = posix.map { String(cString: strerror($0)) } ?? error.localizedDescription
            try? FileHandle.standardError.write(contentsOf: Data("error: cannot write to standard output: \(reason)\n".utf8))
        }
        exit(1)
    }

    /// The console of the running command.
    @TaskLocal public static var current: Console = Console(out: { _ in }, err: { _ in })
}

/// The few colours capctl uses.
enum ANSIColor: String {
    case red = "31"
    case green = "32"
    case yellow = "33"
    case bold = "1"
}

/// A console that keeps what was written, for tests.
public final class CapturedConsole: Sendable {
    private final class Buffers: Sendable {
        let value = Mutex<(out: String, err: String)>(("", ""))
    }

    private let buffers = Buffers()
    public let console: Console

    /// `stdin` is what the command reads for `-f -`.
    public init(environment: [String: String] = [:], isTerminal: Bool = false, stdin: String = "") {
        let buffers = self.buffers
        let input = Data(stdin.utf8)
        console = Console(
            isTerminal: isTerminal, environment: environment,
            out: { text in buffers.value.withLock { $0.out += text } },
            err: { text in buffers.value.withLock { $0.err += text } },
            stdin: { input })
    }

    /// Everything written to standard output so far.
    public var out: String { buffers.value.withLock { $0.out } }
    /// Everything written to standard error so far.
    public var err: String { buffers.value.withLock { $0.err } }
}
