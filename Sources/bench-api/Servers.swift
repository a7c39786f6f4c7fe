// The servers bench-api measures: `capstan apiserver` as a child process (its own RSS, its own
// cores' share, as in production), nghttpd serving a static gRPC response, and a raw unary call
// over the transport for the exact bytes a server answers.
import CapstanBenchSupport
import CapstanEtcdLauncher
import CapstanHTTP2
import CapstanRPC
import Foundation

/// `capstan apiserver --listen 127.0.0.1:0 --store sqlite:DIRECTORY`, started and stopped by the benchmark.
final class APIServerProcess: Sendable {
    let child: ChildServer
    /// `127.0.0.1:PORT`, as printed by the server.
    let address: String
    /// From start until the server printed that the API is ready (its watch caches primed).
    let startup: Duration

    static func start(executable: String, dataDirectory: String, logPath: String) async throws -> APIServerProcess {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let started = ContinuousClock.now
        let child = try await ChildServer(
            name: "capstan apiserver", executable: executable,
            arguments: ["apiserver", "--listen", "127.0.0.1:0", "--store", "sqlite:" + dataDirectory], logPath: logPath)
        // It says where it listens at once, and that the API is ready once the caches hold the store.
        _ = try await child.waitForLine(containing: "the API is ready", timeout: .seconds(300))
        let startup = ContinuousClock.now - started
        let line = try await child.waitForLine(containing: "listening on ")
        guard let range = line.range(of: "listening on "),
            let address = line[range.upperBound...].split(separator: " ").first
        else { throw BenchError("cannot read the address from '\(line)'") }
        return APIServerProcess(child: child, address: String(address), startup: startup)
    }

    private init(child: ChildServer, address: String, startup: Duration) {
        self.child = child
        self.address = address
        self.startup = startup
    }

    var residentKiB: Int? { child.residentKiB }
}

/// nghttpd without TLS serving `docroot`, every response followed by a `grpc-status: 0` trailer.
func startNghttpd(docroot: String, logPath: String) async throws -> (ChildServer, port: Int) {
    guard let port = unusedLoopbackPort() else { throw BenchError("no free loopback port for nghttpd") }
    let server = try await ChildServer(
        name: "nghttpd", executable: "/usr/sbin/nghttpd",
        arguments: ["--no-tls", "-d", docroot, "--trailer", "grpc-status: 0", "\(port)"], logPath: logPath)
    try await waitForPort(port)
    return (server, port)
}

/// Waits (bounded) until something accepts TCP connections on 127.0.0.1:`port`.
func waitForPort(_ port: Int, timeout: Duration = .seconds(30)) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await runTool("/bin/bash", ["-c", "exec 3<>/dev/tcp/127.0.0.1/\(port)"]).status == 0 { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw BenchError("nothing listens on 127.0.0.1:\(port) after \(timeout)")
}

/// One unary call with raw message bytes: returns the response message exactly as the server
/// sent it (what h2load will receive), failing on any status but OK.
func rawUnary(_ transport: any ClientTransport, path: String, request: [UInt8]) async throws -> [UInt8] {
    let stream = try await transport.openStream(path: path, metadata: Metadata(), deadline: .now + .seconds(30))
    try await stream.writer.writeMessage(request)
    stream.writer.closeSend()
    var message: [UInt8]?
    for try await part in stream.responses {
        switch part {
        case .headers: continue
        case .message(let bytes): message = bytes
        case .status(let status, _, _):
            guard status.code == .ok, let message else { throw BenchError("\(path) answered \(status)") }
            return message
        }
    }
    throw BenchError("\(path): the stream ended without a status")
}

/// Runs `call`, again (at most 5 times in all, 100 ms apart) when it fails with UNAVAILABLE: a
/// server under the fan-out load may time out a request. `retried` is true on later attempts
/// (a create that failed ambiguously may then find its object already there).
func retryingUnavailable<T>(_ call: (_ retried: Bool) async throws -> T) async throws -> T {
    var attempt = 1
    while true {
        do {
            return try await call(attempt > 1)
        } catch let error as RPCError where error.code == .unavailable && attempt < 5 {
            attempt += 1
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
