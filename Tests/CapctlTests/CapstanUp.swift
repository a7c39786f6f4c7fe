import CapstanProcessSupport
import CapstanTestSupport
import Foundation
import Synchronization

/// `capstan up` (built beside this test bundle) as a child process, for tests that need a server
/// that can die abruptly.
final class CapstanUp: Sendable {
    private let process: Subprocess
    private let output: Pipe
    /// `127.0.0.1:PORT` it listens on.
    let address: String

    private init(process: Subprocess, output: Pipe, address: String) {
        self.process = process
        self.output = output
        self.address = address
    }

    /// Starts `capstan up` and waits (bounded) until it says where it listens.
    static func start(dataDirectory: String, listen: String) async throws -> CapstanUp {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("capstan").path
        let process = Subprocess()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["up", "--data-dir", dataDirectory, "--listen", listen]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try await ProcessSpawner.shared.spawn(process, killedWithParent: true)
        let reader = output.fileHandleForReading
        let address = try await bounded("capstan up to listen", seconds: 60) { () -> String in
            var text = ""
            while true {
                let data = try await offThePool { reader.availableData }
                if data.isEmpty { throw TestTimeout(what: "capstan up ended before listening:\n\(text)") }
                text += String(decoding: data, as: UTF8.self)
                if let match = text.firstMatch(of: /listening on (\S+)/) { return String(match.1) }
            }
        }
        return CapstanUp(process: process, output: output, address: address)
    }

    /// SIGKILL (the process is gone a moment later; its port and files are free once it is).
    func kill() {
        guard process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
    }

    /// Waits (off the cooperative pool) until the process has exited.
    func waitUntilExit() async throws {
        let process = process
        try await offThePool { process.waitUntilExit() }
    }
}
