import CapstanAPI
import CapstanHTTP2
import CapstanProcessSupport
import CapstanRPC
import CapstanTestSupport
import Foundation
import Testing

/// A server with more connections waiting than it has descriptors: it keeps the last
/// `HTTP2ServerTransport.descriptorReserve` descriptors free for everything else (the runtime's own /proc
/// reads trap when they cannot open a file), pauses accepting rather than spinning its event
/// loop, and accepts again once descriptors are free. The real `capstan up` runs under a low
/// descriptor limit (set for the child only, by `sh -c ulimit`).
@Suite("capstan out of descriptors", .timeLimit(.minutes(2)))
struct DescriptorExhaustionTests {
    @Test("pauses accepting instead of spinning, and serves again once descriptors are free")
    func pausesInsteadOfSpinning() async throws {
        let executable = try #require(
            CapstanExecutableTests.capstanExecutable(), "capstan is not built: run `swift build --build-tests`")
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("capstan-fds-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let out = directory + "/out"
        _ = FileManager.default.createFile(atPath: out, contents: nil)

        let process = Subprocess()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [
            "-c", "ulimit -n 128 && exec \"$0\" \"$@\"", executable.path,
            "up", "--data-dir", directory + "/data", "--listen", "127.0.0.1:0", "--metrics-listen", "off",
        ]
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = FileHandle.nullDevice
        try await ProcessSpawner.shared.spawn(process, killedWithParent: true)
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let banner = try await CapstanExecutableTests.waitForText(out) {
            $0.contains("the API is ready") || !process.isRunning
        }
        let api = try #require(banner.firstMatch(of: /listening on (127\.0\.0\.1:(\d+))/), "stdout: \(banner)")
        let port = try #require(Int(api.2))
        let pid = process.processIdentifier

        // More connections than the server has descriptors left: the kernel completes them all
        // into the listen queue, and the server's accepts fail once it is out.
        var held: [Int32] = []
        defer { for fd in held { close(fd) } }
        for _ in 0..<200 { held.append(try RawConnection.connectedSocket(port: port)) }
        try await Task.sleep(for: .milliseconds(500))
        let before = try #require(ProcessMetrics.cpuTime(of: pid))
        try await Task.sleep(for: .seconds(1))
        let after = try #require(ProcessMetrics.cpuTime(of: pid))
        let used = after - before
        #expect(used < .milliseconds(300), "the server used \(used) of CPU in 1 s while out of descriptors")
        #expect(process.isRunning)
        // The reserve stayed free (one more: a connection accepted into it, about to be closed).
        let open = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
        #expect(open <= 128 - HTTP2ServerTransport.descriptorReserve + 1, "\(open) descriptors open under a limit of 128")

        // Descriptors free again: calls are served.
        for fd in held { close(fd) }
        held.removeAll()
        let group = try EventLoopGroup(threads: 1)
        let transport = try HTTP2ClientTransport(targets: [String(api.1)], group: group)
        do {
            var minion = Minion()
            minion.metadata.name = "after-exhaustion"
            minion.spec.address = "10.0.0.2"
            minion.spec.kubeletPort = 10250
            let created = try await Minions.Client(RPCClient(transport: transport)).create(
                minion, options: CallOptions(timeout: .seconds(20)))
            #expect(created.metadata.name == "after-exhaustion")
        } catch {
            Issue.record("the server did not serve again once descriptors were free: \(error)")
        }
        await transport.close()
        await group.shutdown()
        kill(pid, SIGTERM)
        for _ in 0..<600 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!process.isRunning)
    }
}
