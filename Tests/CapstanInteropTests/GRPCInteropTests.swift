import CapstanProcessSupport
import Foundation
import Synchronization
import Testing

/// Interop with a real gRPC implementation, both ways, over loopback HTTP/2: Python `grpcio` as
/// the client of `capstan-interop server`, and `capstan-interop client` against a `grpcio` server
/// of the same service, every case of gRPC's interop suite.
///
/// Needs the Python of `Tests/python/requirements.txt`: `make test` provides `.venv/`; elsewhere
/// set `CAPSTAN_PYTHON`.
@Suite(.serialized) struct GRPCInteropTests {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var python: String? {
        if let p = ProcessInfo.processInfo.environment["CAPSTAN_PYTHON"], !p.isEmpty { return p }
        let venv = packageRoot.appendingPathComponent(".venv/bin/python").path
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : nil
    }

    /// `capstan-interop`, built beside this test bundle.
    static var interopBinary: String {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return dir.appendingPathComponent("capstan-interop").path
    }

    static let script = packageRoot.appendingPathComponent("Tests/python/interop")

    @Test(.timeLimit(.minutes(3)))
    func grpcioClientAgainstCapstanServer() async throws {
        let python = try #require(Self.python, "no Python with grpcio: run `make test` or set CAPSTAN_PYTHON")
        let server = try await ChildProcess(Self.interopBinary, ["server", "--port", "0"])
        defer { server.terminate() }
        let port = try await server.waitForPort()
        let client = try await ChildProcess(python, [
            Self.script.appendingPathComponent("interop_client.py").path,
            "--server_host", "127.0.0.1", "--server_port", String(port), "--test_case", "all",
        ])
        let status = await client.wait(timeout: .seconds(120))
        let output = client.output
        #expect(status == 0, "grpcio client against capstan-interop server:\n\(output)")
        #expect(output.contains("14 passed, 0 failed"), "\(output)")
    }

    @Test(.timeLimit(.minutes(3)))
    func capstanClientAgainstGRPCIOServer() async throws {
        let python = try #require(Self.python, "no Python with grpcio: run `make test` or set CAPSTAN_PYTHON")
        let server = try await ChildProcess(python, [Self.script.appendingPathComponent("interop_server.py").path, "--port", "0"])
        defer { server.terminate() }
        let port = try await server.waitForPort()
        let client = try await ChildProcess(Self.interopBinary, [
            "client", "--server_host", "127.0.0.1", "--server_port", String(port), "--test_case", "all",
        ])
        let status = await client.wait(timeout: .seconds(120))
        let output = client.output
        #expect(status == 0, "capstan-interop client against the grpcio server:\n\(output)")
        #expect(output.contains("14 passed, 0 failed"), "\(output)")
    }
}

/// A child process whose standard output and error are collected; killed if still running when
/// the test ends.
final class ChildProcess: Sendable {
    /// What the child wrote, appended from the pipe's reading thread.
    final class Collected: Sendable {
        let bytes = Mutex<[UInt8]>([])
    }

    private let process: Subprocess
    private let collected = Collected()

    init(_ executable: String, _ arguments: [String]) async throws {
        let process = Subprocess()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        self.process = process
        let collected = self.collected
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            collected.bytes.withLock { $0.append(contentsOf: data) }
        }
        try await ProcessSpawner.shared.spawn(process, killedWithParent: true)
    }

    var output: String { String(decoding: collected.bytes.withLock { $0 }, as: UTF8.self) }

    /// The port from the server's "listening on PORT" line, waiting at most 30 s.
    func waitForPort() async throws -> Int {
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while ContinuousClock.now < deadline {
            for line in output.split(separator: "\n") where line.hasPrefix("listening on ") {
                if let port = Int(line.dropFirst("listening on ".count)) { return port }
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ChildProcessError(message: "the server never said where it listens; it printed:\n\(output)")
    }

    /// The exit status, or nil if it did not exit within `timeout` (it is then killed).
    func wait(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        guard !process.isRunning else {
            terminate()
            return nil
        }
        return process.terminationStatus
    }

    func terminate() {
        if process.isRunning { process.terminate() }
    }
}

struct ChildProcessError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
