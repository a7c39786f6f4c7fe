import Foundation
import CapstanProcessSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One etcd member process of an `EtcdCluster`: its ports, data directory and arguments are fixed
/// when the cluster is laid out, so it can be killed and started again as the same member.
public final class EtcdMember: Sendable {
    public let name: String
    public let clientPort: Int
    public let peerPort: Int
    public let dataDirectory: String
    /// etcd's own output (both streams), appended across restarts.
    public let logPath: String
    let arguments: [String]
    private let running = Mutex<Subprocess?>(nil)

    init(name: String, clientPort: Int, peerPort: Int, directory: String, initialCluster: String, token: String) {
        self.name = name
        self.clientPort = clientPort
        self.peerPort = peerPort
        dataDirectory = directory + "/" + name
        logPath = directory + "/" + name + ".log"
        let client = "http://127.0.0.1:\(clientPort)"
        let peer = "http://127.0.0.1:\(peerPort)"
        arguments = [
            "--name", name, "--data-dir", dataDirectory,
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", initialCluster, "--initial-cluster-state", "new",
            "--initial-cluster-token", token,
            "--logger", "zap", "--log-outputs", "stderr",
        ]
    }

    /// `127.0.0.1:<client port>`, as `HTTP2ClientTransport` targets are spelled.
    public var clientAddress: String { "127.0.0.1:\(clientPort)" }

    /// The process id while it runs.
    public var processIdentifier: Int32? { running.withLock { $0?.processIdentifier } }

    public var isRunning: Bool { running.withLock { $0?.isRunning ?? false } }

    /// Starts the process (it must not be running). Does not wait for it to serve.
    public func start() async throws {
        guard running.withLock({ $0 == nil }) else { throw EtcdLaunchError("\(name) is already running") }
        let process = Subprocess()
        process.executableURL = URL(fileURLWithPath: EtcdMember.executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        #if !arch(x86_64)
        environment["ETCD_UNSUPPORTED_ARCH"] = EtcdMember.architecture
        #endif
        process.environment = environment
        if !FileManager.default.fileExists(atPath: logPath) {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try await ProcessSpawner.shared.spawn(process, killedWithParent: true)
        try? log.close()
        running.withLock { $0 = process }
    }

    /// SIGKILLs the process and waits (bounded) until it is gone. Nothing if it is not running.
    public func kill() async {
        guard let current = running.withLock({ state -> Subprocess? in defer { state = nil }; return state }) else { return }
        current.signal(SIGKILL)
        await current.waitForExit(timeout: .seconds(30))
    }

    /// Stops the member gracefully (SIGTERM: etcd sends GOAWAY and closes its connections), waiting
    /// (bounded) until it exited; SIGKILL if it has not after `timeout`.
    public func stop(timeout: Duration = .seconds(30)) async {
        guard let current = running.withLock({ state -> Subprocess? in defer { state = nil }; return state }) else { return }
        current.signal(SIGTERM)
        await current.waitForExit(timeout: timeout)
        if current.isRunning {
            current.signal(SIGKILL)
            await current.waitForExit(timeout: .seconds(30))
        }
    }

    /// Stops the process (SIGSTOP) without closing its connections: it holds requests unanswered.
    public func freeze() {
        guard let pid = processIdentifier else { return }
        _ = Glibc.kill(pid, SIGSTOP)
        // kill() returns before the signal has stopped every thread; wait (at most 5 s) until
        // each of etcd's threads reports state T, so nothing it does afterwards races the caller.
        for _ in 0..<500 {
            if Self.allThreadsStopped(pid) { return }
            usleep(10_000)
        }
    }

    private static func allThreadsStopped(_ pid: Int32) -> Bool {
        guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task"), !tasks.isEmpty else {
            return false
        }
        for task in tasks {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")")
            else { return false }
            // The field after "(comm)" is the state.
            let state = stat[stat.index(after: close)...].split(separator: " ").first
            if state != "T" && state != "t" { return false }
        }
        return true
    }

    /// Lets a frozen process go on (SIGCONT).
    public func thaw() {
        if let pid = processIdentifier { _ = Glibc.kill(pid, SIGCONT) }
    }

    /// Whether `GET /health` answers `"health":"true"` (the member has a leader and serves reads).
    public func isHealthy() -> Bool {
        guard isRunning, let body = HTTPProbe.get(port: clientPort, path: "/health") else { return false }
        return body.contains("\"health\":\"true\"")
    }

    /// Whether this member is the raft leader now (from its metrics); nil when it does not answer.
    public func isLeader() -> Bool? {
        guard isRunning, let body = HTTPProbe.get(port: clientPort, path: "/metrics") else { return nil }
        for line in body.split(separator: "\n") where line.hasPrefix("etcd_server_is_leader ") {
            return line.hasSuffix(" 1")
        }
        return nil
    }

    /// The last lines of the member's log, for failure messages.
    public func logTail(lines: Int = 20) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    static let executable = ProcessInfo.processInfo.environment["CAPSTAN_ETCD"] ?? "/usr/bin/etcd"

    #if arch(arm64)
    static let architecture = "arm64"
    #else
    static let architecture = "unknown"
    #endif
}

/// Why a member or cluster could not be started.
public struct EtcdLaunchError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
