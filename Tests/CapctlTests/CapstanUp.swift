import CapstanProcessSupport
import Foundation
import Glibc
import Synchronization

/// `capstan up` (built beside this test bundle) as a child process, for tests that need a server
/// that can die abruptly.
final class CapstanUp: Sendable {
    private let process: Process
    private let output: Pipe
    /// `127.0.0.1:PORT` it listens on.
    let address: String

    private init(process: Process, output: Pipe, address: String) {
        self.process = process
        self.output = output
        self.address = address
    }

    /// A loopback port for a server that is killed and started again on the same port: from
    /// below the kernel's ephemeral range (32768–60999 by default), so no port-0 listener or
    /// outgoing connection of a concurrently running test can take it in between; checked free.
    static func unusedPort() throws -> Int {
        for _ in 0..<200 {
            let candidate = Int.random(in: 20_000..<32_000)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { continue }
            var reuse: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(candidate).bigEndian
            let length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 }
            }
            close(fd)
            if bound { return candidate }
        }
        throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "no free port below the ephemeral range"])
    }

    /// Starts `capstan up` and waits (bounded) until it says where it listens.
    static func start(dataDirectory: String, listen: String) async throws -> CapstanUp {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("capstan").path
        let process = Process()
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
