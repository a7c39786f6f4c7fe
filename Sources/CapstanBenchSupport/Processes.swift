// Child processes of the benchmarks: tools run to completion (h2load, `etcd --version`) and
// servers that run until killed (nghttpd, `capstan apiserver`). All start on the shared spawner
// thread and die with the benchmark.
import CapstanProcessSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs `executable` with `arguments` to completion (polling, so no thread blocks on it); returns
/// its exit status and standard output.
public func runTool(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
    let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("bench-tool-\(UUID().uuidString)").path
    _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: outputPath) }
    let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
    let process = Subprocess()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    try await ProcessSpawner.shared.spawn(process, killedWithParent: true)
    try? output.close()
    while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
    let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    return (process.terminationStatus, text)
}

/// `etcd --version`'s first line.
public func etcdVersion() async throws -> String {
    let text = try await runTool("/usr/bin/etcd", ["--version"]).output
    return text.split(separator: "\n").first.map(String.init) ?? "etcd"
}

/// A server started for a benchmark; `kill()` (or the benchmark's exit) ends it.
public final class ChildServer: Sendable {
    public let name: String
    /// Where its standard output and error go.
    public let logPath: String
    private let process: Subprocess

    /// The process id (the server's own: the spawner's `setpriv` wrapper execs it).
    public var processIdentifier: Int32 { process.processIdentifier }

    /// Starts `executable`; its output goes to `logPath`.
    public init(name: String, executable: String, arguments: [String], logPath: String) async throws {
        self.name = name
        self.logPath = logPath
        let process = Subprocess()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try await ProcessSpawner.shared.spawn(process, killedWithParent: true)
        try? log.close()
        self.process = process
    }

    /// The server's log so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Polls the log (bounded by `timeout`) until a line contains `text`; returns that line.
    public func waitForLine(containing text: String, timeout: Duration = .seconds(60)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = log.split(separator: "\n").first(where: { $0.contains(text) }) { return String(line) }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchError("\(name) did not print '\(text)' (exit: \(process.isRunning ? "running" : "\(process.terminationStatus)")); log:\n\(log.suffix(2000))")
    }

    /// Resident memory (VmRSS) in KiB, from /proc.
    public var residentKiB: Int? { residentMemoryKiB(of: processIdentifier) }

    /// Sends SIGTERM and waits (bounded) for the exit; SIGKILL after `timeout`.
    public func stop(timeout: Duration = .seconds(30)) async {
        guard process.isRunning else { return }
        _ = Glibc.kill(process.processIdentifier, SIGTERM)
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            _ = Glibc.kill(process.processIdentifier, SIGKILL)
            while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        }
    }
}

/// VmRSS of process `pid` in KiB, from /proc/PID/status.
public func residentMemoryKiB(of pid: Int32) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    }
    return nil
}

/// Raises this process's soft limit of open files to its hard limit (children inherit it).
public func raiseOpenFileLimit() {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
}

/// A benchmark's failure, with what went wrong.
public struct BenchError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
