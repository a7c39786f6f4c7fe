import CapstanProcessSupport
import CapstanTestSupport
import Foundation

/// `capstan apiserver` (built beside this test bundle) as a child process on a random loopback
/// port, for tests that kill the server abruptly. Its output goes to a file in `directory`, so a
/// chatty server never blocks on a full pipe.
final class APIServerProcess: Sendable {
    private let process: Subprocess
    /// `127.0.0.1:PORT` it listens on.
    let address: String
    /// Where its standard output and error go.
    let logPath: String

    private init(process: Subprocess, address: String, logPath: String) {
        self.process = process
        self.address = address
        self.logPath = logPath
    }

    /// Starts `capstan apiserver --store store` and waits (bounded) until it says where it listens.
    static func start(store: String, logPath: String) async throws -> APIServerProcess {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let binary = directory.appendingPathComponent("capstan").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw TestTimeout(what: "the capstan executable at \(binary): run `swift build --build-tests`")
        }
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let process = Subprocess()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["apiserver", "--listen", "127.0.0.1:0", "--store", store]
        process.standardOutput = log
        process.standardError = log
        try await ProcessSpawner.shared.spawn(process, killedWithParent: true)
        try? log.close()
        let address = try await bounded("capstan apiserver to listen", seconds: 60) { () -> String in
            while true {
                let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                if let match = text.firstMatch(of: /listening on (\S+)/) { return String(match.1) }
                if !process.isRunning { throw TestTimeout(what: "capstan apiserver ended before listening:\n\(text)") }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        return APIServerProcess(process: process, address: address, logPath: logPath)
    }

    /// SIGKILLs the server and waits (bounded) until it is gone; returns whether it was running.
    @discardableResult
    func kill() async throws -> Bool {
        let wasRunning = process.isRunning
        process.signal(SIGKILL)
        let process = process
        try await bounded("capstan apiserver to die") { await process.waitForExit() }
        return wasRunning
    }

    /// SIGTERM, and a bounded wait for the clean stop.
    func stop() async throws {
        process.signal(SIGTERM)
        let process = process
        try await bounded("capstan apiserver to stop") { await process.waitForExit() }
    }

    /// What the server printed so far.
    var output: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}
