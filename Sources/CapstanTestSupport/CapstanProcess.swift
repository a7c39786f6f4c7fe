import CapstanProcessSupport
import Foundation

/// The `capstan` executable built beside the test bundle, as a child process serving until it is
/// stopped or killed: for tests that need a server that can die abruptly (`capstan up`,
/// `capstan apiserver`). Its output goes to a file, so a chatty server never blocks on a full pipe.
public final class CapstanProcess: Sendable {
    private let process: Subprocess
    /// The `HOST:PORT` it said it listens on.
    public let address: String
    /// Where its standard output and error go.
    public let logPath: String

    private init(process: Subprocess, address: String, logPath: String) {
        self.process = process
        self.address = address
        self.logPath = logPath
    }

    /// Runs `capstan arguments…` (killed with the test process) and waits (bounded) until it
    /// prints `listening on HOST:PORT` (at once) and that the API is ready (once its watch caches
    /// hold the store).
    public static func start(_ arguments: [String], logPath: String) async throws -> CapstanProcess {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let binary = directory.appendingPathComponent("capstan").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw TestTimeout(what: "the capstan executable at \(binary): run `swift build --build-tests`")
        }
        let logDirectory = URL(fileURLWithPath: logPath).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let process = Subprocess()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardOutput = log
        process.standardError = log
        try await ProcessSpawner.shared.spawn(process, killedWithParent: true)
        try? log.close()
        let address = try await bounded("capstan \(arguments.first ?? "") to listen", seconds: 60) { () -> String in
            while true {
                let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                if text.contains("the API is ready"), let match = text.firstMatch(of: /API server listening on (\S+)/) {
                    return String(match.1)
                }
                if !process.isRunning { throw TestTimeout(what: "capstan to listen; it ended first:\n\(text)") }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        return CapstanProcess(process: process, address: address, logPath: logPath)
    }

    /// SIGKILLs it and waits (bounded) until it is gone, so its port and files are free; returns
    /// whether it was still running.
    @discardableResult
    public func kill() async throws -> Bool {
        let wasRunning = process.isRunning
        process.signal(SIGKILL)
        let process = process
        try await bounded("capstan to die") { await process.waitForExit() }
        return wasRunning
    }

    /// SIGTERM, and a bounded wait for the clean stop.
    public func stop() async throws {
        process.signal(SIGTERM)
        let process = process
        try await bounded("capstan to stop") { await process.waitForExit() }
    }

    /// What it printed so far.
    public var output: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}
