import Foundation

/// Real etcd members (`/usr/bin/etcd`, or `$CAPSTAN_ETCD`) in a static cluster on random free
/// loopback ports, each with its data directory under one temporary directory.
///
/// Use `withEtcdCluster(members:_:)`: it starts the cluster, waits until every member is healthy,
/// runs the body, and then kills every member and removes the directory, also when the body
/// throws. Members also die with this process (see `ProcessSpawner`).
public final class EtcdCluster: Sendable {
    public let members: [EtcdMember]
    public let directory: String

    /// Every member's `127.0.0.1:<client port>`.
    public var clientAddresses: [String] { members.map(\.clientAddress) }

    private init(members: [EtcdMember], directory: String) {
        self.members = members
        self.directory = directory
    }

    /// Whether an etcd executable is installed.
    public static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: EtcdMember.executable) }

    /// Lays out and starts `count` members, waiting up to `timeout` until all are healthy. A start
    /// that fails (for example, a port taken meanwhile) is retried with new ports, at most 3 times.
    public static func start(members count: Int, timeout: Duration = .seconds(60)) async throws -> EtcdCluster {
        guard isAvailable else {
            throw EtcdLaunchError("no etcd at \(EtcdMember.executable): install etcd-server (apt-get install -y etcd-server)")
        }
        var lastError: any Error = EtcdLaunchError("not started")
        for _ in 0..<3 {
            let cluster = try layOut(members: count)
            do {
                for member in cluster.members { try await member.start() }
                try await cluster.waitUntilHealthy(timeout: timeout)
                return cluster
            } catch {
                lastError = error
                await cluster.shutdown()
            }
        }
        throw lastError
    }

    private static func layOut(members count: Int) throws -> EtcdCluster {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("capstan-etcd-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var ports = Set<Int>()
        while ports.count < 2 * count {
            guard let port = HTTPProbe.freePort() else { throw EtcdLaunchError("no free loopback port") }
            ports.insert(port)
        }
        let sorted = Array(ports).shuffled()
        let names = (0..<count).map { "m\($0)" }
        let initialCluster = (0..<count).map { "\(names[$0])=http://127.0.0.1:\(sorted[2 * $0 + 1])" }.joined(separator: ",")
        let token = "capstan-\(UUID().uuidString.prefix(8))"
        let members = (0..<count).map {
            EtcdMember(
                name: names[$0], clientPort: sorted[2 * $0], peerPort: sorted[2 * $0 + 1], directory: directory,
                initialCluster: initialCluster, token: token)
        }
        return EtcdCluster(members: members, directory: directory)
    }

    /// Waits (polling every 100 ms, at most `timeout`) until every running member is healthy.
    public func waitUntilHealthy(timeout: Duration = .seconds(60)) async throws {
        try await waitUntilHealthy(members, timeout: timeout)
    }

    /// Waits (polling every 100 ms, at most `timeout`) until the given members are healthy.
    public func waitUntilHealthy(_ members: [EtcdMember], timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let dead = members.first(where: { !$0.isRunning }) {
                throw EtcdLaunchError("etcd member \(dead.name) exited:\n\(dead.logTail())")
            }
            let unhealthy = await Self.blocking { members.filter { !$0.isHealthy() } }
            if unhealthy.isEmpty { return }
            guard ContinuousClock.now < deadline else {
                throw EtcdLaunchError(
                    "etcd members \(unhealthy.map(\.name)) not healthy after \(timeout):\n"
                        + unhealthy.map { $0.logTail() }.joined(separator: "\n"))
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Runs `probe` (blocking HTTP requests to the members, each up to 2 s when a member is
    /// frozen) on a thread of its own, not on one of the few threads that run every task.
    private static func blocking<T: Sendable>(_ probe: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: probe()) }
        }
    }

    /// The index of the member that is leader now, asking each running member (nil if none says so).
    public func leaderIndex() -> Int? {
        members.firstIndex { $0.isLeader() == true }
    }

    /// Waits (at most `timeout`) until some running member reports itself leader.
    public func waitForLeader(timeout: Duration = .seconds(60)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let leader = await Self.blocking({ self.leaderIndex() }) { return leader }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw EtcdLaunchError("no etcd leader after \(timeout)")
    }

    /// Kills every member (SIGKILL) and removes the directory.
    public func shutdown() async {
        for member in members { await member.kill() }
        try? FileManager.default.removeItem(atPath: directory)
        HTTPProbe.release(members.flatMap { [$0.clientPort, $0.peerPort] })
    }
}

/// Starts a cluster of `members`, runs `body`, and always kills it and removes its files afterwards.
public func withEtcdCluster<T>(
    members: Int, timeout: Duration = .seconds(60), _ body: (EtcdCluster) async throws -> T
) async throws -> T {
    let cluster = try await EtcdCluster.start(members: members, timeout: timeout)
    do {
        let result = try await body(cluster)
        await cluster.shutdown()
        return result
    } catch {
        await cluster.shutdown()
        throw error
    }
}
