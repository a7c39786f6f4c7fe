import CapstanAPIServerHost
import CapstanProcessSupport
import Foundation
import Testing

/// The API from an independent client: `Tests/python/api/scenarios.py`, Python `grpcio` with
/// stubs generated from `proto/` at run time, against a real API server host over HTTP/2, on the
/// embedded store and on etcd. The script prints one line per scenario; every one must pass.
///
/// Needs the Python of `Tests/python/requirements.txt`: `make test` sets `CAPSTAN_PYTHON` to
/// `.venv/bin/python`; without it the test is skipped.
@Suite("Python grpcio client")
struct PythonClientTests {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let script = packageRoot.appendingPathComponent("Tests/python/api/scenarios.py").path
    static var python: String? {
        ProcessInfo.processInfo.environment["CAPSTAN_PYTHON"].flatMap { $0.isEmpty ? nil : $0 }
    }

    @Test("every core scenario passes from Python grpcio against a real API server",
          .enabled(if: python != nil, "CAPSTAN_PYTHON is not set: run `make test`, or set it to a Python with Tests/python/requirements.txt"),
          .timeLimit(.minutes(5)), arguments: Backend.allCases)
    func scenarios(backend: Backend) async throws {
        let python = try #require(Self.python)
        try await BackendFixture.with(backend) { fixture in
            let host = try await APIServerHost.start(store: fixture.address, options: testOptions())
            let outcome: (status: Int32?, output: String)
            do {
                outcome = try await withTemporaryDirectory { directory in
                    try await runChild(
                        python, [Self.script, "--target", host.address], output: directory + "/scenarios.log",
                        timeout: .seconds(240))
                }
            } catch {
                await host.stop()
                throw error
            }
            await host.stop()
            let lines = outcome.output.split(separator: "\n")
            #expect(outcome.status == 0, "scenarios.py exited with \(outcome.status.map(String.init) ?? "a timeout"):\n\(outcome.output)")
            let passed = lines.filter { $0.hasPrefix("PASS ") }.count
            #expect(passed >= 17, "\(passed) scenarios passed:\n\(outcome.output)")
            #expect(!lines.contains { $0.hasPrefix("FAIL ") }, "\(outcome.output)")
            #expect(lines.last == "\(passed) passed, 0 failed", "\(outcome.output)")
        }
    }
}

/// Runs `executable` with its output (both streams) in the file at `output`; returns the exit
/// status (nil if it ran past `timeout` and was killed) and what it printed.
func runChild(_ executable: String, _ arguments: [String], output: String, timeout: Duration) async throws -> (Int32?, String) {
    _ = FileManager.default.createFile(atPath: output, contents: nil)
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
    defer { try? handle.close() }
    let process = Subprocess()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = handle
    process.standardError = handle
    try await ProcessSpawner.shared.spawn(process, killedWithParent: true)
    let deadline = ContinuousClock.now + timeout
    while process.isRunning && ContinuousClock.now < deadline {
        try? await Task.sleep(for: .milliseconds(50))
    }
    var status: Int32?
    if process.isRunning {
        process.terminate()
        await process.waitForExit()
    } else {
        status = process.terminationStatus
    }
    let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
    return (status, text)
}
