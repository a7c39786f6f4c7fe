import CapstanAPI
import CapstanHTTP2
import CapstanProcessSupport
import CapstanRPC
import Foundation
import CapstanTestSupport
import Testing

@Suite("The capstan executable's observability flags", .timeLimit(.minutes(2)))
struct CapstanExecutableTests {
    /// `capstan` beside the test bundle's executable in the build directory.
    static func capstanExecutable() -> URL? {
        var directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("capstan")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        return nil
    }

    /// Polls `file` for up to 30 s until `condition` holds for its text; returns the text.
    static func waitForText(_ file: String, _ condition: (String) -> Bool) async throws -> String {
        for _ in 0..<600 {
            let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            if condition(text) { return text }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestTimeout(what: "\(file) to show what the test waits for")
    }

    /// Runs `capstan apiserver` on a fresh SQLite directory, on a free loopback port, with the
    /// arguments `arguments` gives for the directory (which it may fill first), and hands `body`
    /// the process, its stdout file and its address. SIGKILLs it afterwards if it still runs.
    static func withAPIServerProcess(
        _ arguments: (String) throws -> [String],
        _ body: (Subprocess, _ out: String, _ address: String) async throws -> Void
    ) async throws {
        try await withCapstanProcess(
            { directory in
                ["apiserver", "--store", "sqlite:" + directory + "/data", "--listen", "127.0.0.1:0"] + (try arguments(directory))
            }, body)
    }

    /// The arguments of `command` (`up` or `apiserver`) on the SQLite directory `data`, on a free
    /// loopback port, without a metrics listener.
    static func daemonArguments(_ command: String, data: String) -> [String] {
        switch command {
        case "up": ["up", "--data-dir", data, "--listen", "127.0.0.1:0", "--metrics-listen", "off"]
        default: ["apiserver", "--store", "sqlite:" + data, "--listen", "127.0.0.1:0"]
        }
    }

    /// Runs `capstan` with the arguments `arguments` gives for a fresh temporary directory (which
    /// it may fill first), once it prints its banner hands `body` the process, its stdout file
    /// and the address it listens on, and SIGKILLs it afterwards if it still runs. Its stderr
    /// goes to `err` in the directory.
    static func withCapstanProcess(
        _ arguments: (String) throws -> [String],
        environment: ((String) -> [String: String])? = nil,
        descriptorLimit: Int? = nil,
        _ body: (Subprocess, _ out: String, _ address: String) async throws -> Void
    ) async throws {
        let capstan = try #require(capstanExecutable(), "capstan is not built: run `swift build --build-tests`")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-exe-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let out = directory + "/out"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: directory + "/err", contents: nil)
        let process = Subprocess()
        if let descriptorLimit {
            // util-linux's prlimit (Debian's essential set) runs it under the lower limit.
            process.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
            process.arguments = ["--nofile=\(descriptorLimit):\(descriptorLimit)", capstan.path] + (try arguments(directory))
        } else {
            process.executableURL = capstan
            process.arguments = try arguments(directory)
        }
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment(directory)) { $1 }
        }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/err"))
        try await ProcessSpawner.shared.spawn(process, killedWithParent: true)
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let banner = try await waitForText(out) { $0.contains("grpcurl") || !process.isRunning }
        let api = try #require(banner.firstMatch(of: /listening on (127\.0\.0\.1:\d+)/)?.1, "stdout: \(banner)")
        try await body(process, out, String(api))
    }

    @Test("capstan up keeps its store in $HOME/.capstan/data unless told otherwise")
    func upDataDirectoryFollowsHome() async throws {
        try await Self.withCapstanProcess(
            { _ in ["up", "--listen", "127.0.0.1:0", "--metrics-listen", "off"] },
            environment: { ["HOME": $0 + "/home"] }
        ) { process, out, _ in
            let banner = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            let home = URL(fileURLWithPath: out).deletingLastPathComponent().path + "/home"
            #expect(banner.contains("store: sqlite:\(home)/.capstan/data"), "\(banner)")
            #expect(FileManager.default.fileExists(atPath: home + "/.capstan/data"))
            kill(process.processIdentifier, SIGTERM)
        }
    }

    @Test("out of descriptors, the server says once that it stopped accepting connections, and once that it accepts them again")
    func acceptTroubleIsLogged() async throws {
        try await Self.withCapstanProcess(
            { ["up", "--data-dir", $0 + "/data", "--listen", "127.0.0.1:0", "--metrics-listen", "off"] },
            descriptorLimit: 64
        ) { process, out, address in
            let err = URL(fileURLWithPath: out).deletingLastPathComponent().path + "/err"
            let port = UInt16(address.split(separator: ":").last!)!
            // More connections than 64 descriptors (less the store's reserve) can hold; the rest
            // wait in the listen queue.
            var sockets: [Int32] = []
            defer { for fd in sockets { close(fd) } }
            for _ in 0..<80 { sockets.append(try Self.connectTCP(port: port)) }
            let troubled = try await Self.waitForText(err) { $0.contains("not accepting connections for now") }
            #expect(troubled.contains("RLIMIT_NOFILE 64"), "\(troubled)")
            for fd in sockets { close(fd) }
            sockets = []
            // The queued ones are accepted (and seen closed) once descriptors are free again; a
            // connection accepted a second after the last pause ends the episode.
            var text = ""
            for _ in 0..<60 where !text.contains("accepting connections again") {
                sockets.append(try Self.connectTCP(port: port))
                try await Task.sleep(for: .milliseconds(300))
                text = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
            }
            #expect(text.contains("accepting connections again"), "\(text)")
            #expect(text.components(separatedBy: "not accepting connections for now").count == 2, "once per episode: \(text)")
            #expect(process.isRunning)
            kill(process.processIdentifier, SIGTERM)
        }
    }

    /// A blocking TCP connection to 127.0.0.1:`port` (a socket the server may leave queued).
    static func connectTCP(port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(fd)
            throw POSIXError(.ECONNREFUSED)
        }
        return fd
    }

    @Test("capstan up: JSON request logs on stderr, GET /metrics, the Metrics RPC, a clean stop on SIGTERM")
    func up() async throws {
        let executable = try #require(Self.capstanExecutable(), "capstan is not built: run `swift build --build-tests`")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-obs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let out = directory + "/out", err = directory + "/err"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)

        let process = Subprocess()
        process.executableURL = executable
        process.arguments = [
            "up", "--data-dir", directory + "/data", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:\(try restartablePort())",
            "--log-format", "json", "--log-level", "debug",
        ]
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        try await ProcessSpawner.shared.spawn(process, killedWithParent: true)
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

        let banner = try await Self.waitForText(out) { $0.contains("/metrics\n") || !process.isRunning }
        let api = try #require(banner.firstMatch(of: /listening on (127\.0\.0\.1:\d+)/)?.1, "stdout: \(banner)")
        // The daemon allocates through jemalloc (linked, and serving malloc), not glibc's malloc,
        // with its background thread purging freed memory while the daemon idles.
        #expect(banner.contains(/memory: jemalloc \d+\.\d+\.\d+\)/), "stdout: \(banner)")
        let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.processIdentifier)/task")) ?? []
        let names = threads.compactMap { try? String(contentsOfFile: "/proc/\(process.processIdentifier)/task/\($0)/comm", encoding: .utf8) }
        #expect(names.contains { $0.hasPrefix("jemalloc_bg_thd") }, "threads: \(names)")
        let metricsPort = try #require(banner.firstMatch(of: /http:\/\/127\.0\.0\.1:(\d+)\/metrics/)?.1).flatMap { Int($0) }
        let port = try #require(metricsPort)

        let group = try EventLoopGroup(threads: 1)
        let transport = try HTTP2ClientTransport(targets: [String(api)], group: group)
        do {
            let rpc = RPCClient(transport: transport)
            var created = Minion()
            created.metadata.name = "e2e"
            created.spec.address = "10.0.0.1"
            created.spec.kubeletPort = 10250
            _ = try await Minions.Client(rpc).create(created)
            let snapshot = try await settledMetrics(rpc) { $0.methods.contains { $0.method == "Create" } }
            #expect(snapshot.methods.contains { $0.method == "Create" && $0.codes.map(\.code) == ["OK"] })
        } catch {
            Issue.record("calls to the daemon failed: \(error)")
        }
        await transport.close()
        await group.shutdown()

        let scrape = try httpExchange(port: port, "GET /metrics HTTP/1.1\r\n\r\n")
        #expect(scrape.status == 200)
        let text = try Exposition(parsing: scrape.body)
        #expect(text.value("capstan_rpc_server_calls_total", ["service": "capstan.v1.Minions", "method": "Create", "code": "OK"]) == 1)

        let logs = try await Self.waitForText(err) { $0.contains("/capstan.v1.Metrics/Get") }
        let records = try logs.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
        }
        let create = try #require(records.first { $0["rpc.method"] as? String == "/capstan.v1.Minions/Create" })
        #expect(create["rpc.code"] as? String == "OK")
        #expect(create["level"] as? String == "debug", "successful calls log at debug")
        #expect(create["logger"] as? String == "capstan.rpc")
        #expect(create["rpc.latency_ms"] is NSNumber, "a JSON number: \(create)")

        kill(process.processIdentifier, SIGTERM)
        let stopped = try await Self.waitForText(out) { $0.contains("capstan: stopped") || !process.isRunning }
        for _ in 0..<600 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        #expect(stopped.contains("capstan: stopped"))
        #expect(!process.isRunning)
        #expect(process.terminationStatus == 0)
        #expect(throws: RawConnection.Failure.self) { _ = try RawConnection(port: port) }
    }

    @Test("a stop with a stream that never ends: calls are ended after the grace period, or at a second signal", arguments: [false, true])
    func stopWithAStreamOpen(secondSignal: Bool) async throws {
        // With a second signal the grace period is long: only the signal can end the stream in time.
        try await Self.withAPIServerProcess({ _ in ["--shutdown-grace-period", secondSignal ? "600" : "1"] }) {
            process, out, api in
            try await Self.withOpenStream(api) {
                let signalled = ContinuousClock.now
                kill(process.processIdentifier, SIGTERM)
                if secondSignal {
                    _ = try await Self.waitForText(out) { $0.contains("shutting down") }
                    try await Task.sleep(for: .milliseconds(500))
                    #expect(process.isRunning, "the drain waits for the open stream")
                    kill(process.processIdentifier, SIGTERM)
                }
                for _ in 0..<600 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
                #expect(!process.isRunning, "still running \(signalled.duration(to: .now)) after the signal")
                #expect(process.terminationStatus == 0)
                let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
                #expect(text.contains("capstan: stopped"), "stdout: \(text)")
            }
        }
    }

    /// Runs `body` while a reflection stream to `api` is open whose client keeps its side open
    /// (a graceful drain waits for it), with its first answer received; then ends it.
    static func withOpenStream(_ api: String, _ body: () async throws -> Void) async throws {
        let group = try EventLoopGroup(threads: 1)
        let transport = try HTTP2ClientTransport(targets: [api], group: group)
        let outcome: Result<Void, any Error>
        do {
            let stream = try await transport.openStream(
                path: "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", metadata: Metadata(), deadline: nil)
            defer { stream.writer.cancel() }
            try await stream.writer.writeMessage([0x3A, 0x00])
            var responses = stream.responses.makeAsyncIterator()
            while let part = try await responses.next() {
                if case .message = part { break }
            }
            try await body()
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        await transport.close()
        await group.shutdown()
        try outcome.get()
    }

    /// Waits (at most 30 s) for `process` to exit.
    static func waitForExit(_ process: Subprocess) async throws {
        for _ in 0..<600 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
    }

    @Test("SIGHUP (a closed terminal) stops a daemon as SIGTERM does: a drain for the grace period, then exit 0", arguments: ["up", "apiserver"])
    func hangUp(command: String) async throws {
        // A long grace period: the drain is seen waiting for the open stream however late this
        // test gets to look on a loaded machine; ending the stream then ends the drain.
        try await Self.withCapstanProcess({ Self.daemonArguments(command, data: $0 + "/data") + ["--shutdown-grace-period", "600"] }) {
            process, out, api in
            try await Self.withOpenStream(api) {
                kill(process.processIdentifier, SIGHUP)
                let text = try await Self.waitForText(out) { $0.contains("shutting down") || !process.isRunning }
                #expect(text.contains("capstan: shutting down"), "stdout: \(text)")
                try await Task.sleep(for: .milliseconds(300))
                #expect(process.isRunning, "the drain waits for the open stream")
            }
            try await Self.waitForExit(process)
            #expect(!process.isRunning, "the drain ended with the stream")
            #expect(process.terminationReason == .exit && process.terminationStatus == 0, "\(process.terminationReason) \(process.terminationStatus)")
            let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            #expect(text.contains("capstan: stopped"), "stdout: \(text)")
        }
    }

    /// Bad flags are usage errors (exit 64) with the subcommand's usage: checked in `run` they
    /// showed the root's ("Usage: capstan <subcommand>"), and `-1` was taken for an option.
    @Test("bad daemon flags are usage errors naming the flag, with the subcommand's usage", arguments: [
        (["apiserver", "--store", "bogus"], "--store must be"),
        (["apiserver", "--store", "sqlite:/nonexistent/x", "--listen", "nohost"], "--listen must be HOST:PORT"),
        (["up", "--metrics-listen", "x"], "--metrics-listen must be HOST:PORT"),
        (["up", "--shutdown-grace-period", "-1"], "--shutdown-grace-period must be between 0 and 86400"),
    ])
    func badFlags(arguments: [String], says: String) async throws {
        let capstan = try #require(Self.capstanExecutable(), "capstan is not built: run `swift build --build-tests`")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-flags-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = FileManager.default.createFile(atPath: directory + "/err", contents: nil)
        let process = Subprocess()
        process.executableURL = capstan
        process.arguments = arguments
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/err"))
        try await ProcessSpawner.shared.spawn(process, killedWithParent: true)
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        try await Self.waitForExit(process)
        let err = try String(contentsOfFile: directory + "/err", encoding: .utf8)
        #expect(process.terminationStatus == 64, "\(err)")
        #expect(err.contains(says) && err.contains("Usage: capstan \(arguments[0]) "), "\(err)")
    }

    @Test("both daemons create a missing data directory (0700) and its missing parents (0755, as mkdir -p)", arguments: ["up", "apiserver"])
    func dataDirectory(command: String) async throws {
        try await Self.withCapstanProcess({ Self.daemonArguments(command, data: $0 + "/new/sub/data") }) { process, out, _ in
            let directory = URL(fileURLWithPath: out).deletingLastPathComponent().path
            let mask = try currentUmask()
            #expect(try permissionBits(of: directory + "/new/sub/data") == 0o700 & ~mask)
            #expect(FileManager.default.fileExists(atPath: directory + "/new/sub/data/store.db"))
            let parents = 0o755 & ~mask
            #expect(try permissionBits(of: directory + "/new/sub") == parents)
            #expect(try permissionBits(of: directory + "/new") == parents)
            kill(process.processIdentifier, SIGTERM)
            try await Self.waitForExit(process)
            #expect(process.terminationStatus == 0)
        }
    }

    @Test("capstan apiserver on an etcd that nothing answers for: it says it listens at once, reads fail UNAVAILABLE before their deadline")
    func unreachableEtcd() async throws {
        // Nothing listens on a port just found free.
        let store = "etcd:127.0.0.1:\(try restartablePort())"
        try await Self.withCapstanProcess({ _ in ["apiserver", "--store", store, "--listen", "127.0.0.1:0"] }) {
            process, out, api in
            let group = try EventLoopGroup(threads: 1)
            let transport = try HTTP2ClientTransport(targets: [api], group: group)
            let pods = Pods.Client(RPCClient(transport: transport))
            for attempt in 0..<2 {
                let started = ContinuousClock.now
                do {
                    _ = try await pods.list(ListRequest(), options: CallOptions(timeout: .seconds(20)))
                    Issue.record("a List succeeded without a store")
                } catch let error as RPCError {
                    #expect(error.code == .unavailable, "attempt \(attempt): \(error)")
                    // The store probe (at about 1-3 s) or the feed's failed attempt (about 6 s), whichever comes first.
                    #expect(error.message.contains("has not listed the store yet") && error.message.hasSuffix("retry"), "\(error)")
                }
                #expect(started.duration(to: .now) < .seconds(20))
            }
            await transport.close()
            await group.shutdown()
            let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            #expect(!text.contains("the API is ready"), "stdout: \(text)")
            kill(process.processIdentifier, SIGTERM)
            try await Self.waitForExit(process)
            #expect(process.terminationStatus == 0)
            let stopped = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            #expect(stopped.contains("capstan: stopped"), "stdout: \(stopped)")
        }
    }

    @Test("capstan apiserver --token-file: no token is UNAUTHENTICATED, a read-only one may only read, health stays open")
    func tokenFile() async throws {
        let arguments = { (directory: String) throws -> [String] in
            try "# tokens\nadmin-token,admin\nviewer-token,viewer,read-only\n".write(
                toFile: directory + "/tokens", atomically: true, encoding: .utf8)
            return ["--token-file", directory + "/tokens"]
        }
        try await Self.withAPIServerProcess(arguments) { process, _, api in
            let group = try EventLoopGroup(threads: 1)
            let transport = try HTTP2ClientTransport(targets: [String(api)], group: group)
            let minions = Minions.Client(RPCClient(transport: transport))
            func options(_ token: String?) -> CallOptions {
                guard let token else { return CallOptions() }
                var metadata = Metadata()
                try? metadata.add("authorization", "Bearer \(token)")
                return CallOptions(metadata: metadata)
            }
            func code(_ call: () async throws -> Void) async -> RPCCode? {
                do {
                    try await call()
                    return nil
                } catch {
                    return (error as? RPCError)?.code ?? .unknown
                }
            }
            var minion = Minion()
            minion.metadata.name = "m1"
            minion.spec.address = "10.0.0.1"
            #expect(await code { _ = try await minions.list(ListRequest(), options: options(nil)) } == .unauthenticated)
            #expect(await code { _ = try await minions.list(ListRequest(), options: options("wrong")) } == .unauthenticated)
            #expect(await code { _ = try await minions.create(minion, options: options("viewer-token")) } == .permissionDenied)
            #expect(await code { _ = try await minions.create(minion, options: options("admin-token")) } == nil)
            #expect(await code { _ = try await minions.list(ListRequest(), options: options("viewer-token")) } == nil)
            // Health stays open (load balancers probe it without a token).
            let health = try await Grpc_Health_V1_Health.Client(RPCClient(transport: transport)).check(Grpc_Health_V1_HealthCheckRequest())
            #expect(health.status == .serving)
            await transport.close()
            await group.shutdown()
            kill(process.processIdentifier, SIGTERM)
            for _ in 0..<600 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
            #expect(process.terminationStatus == 0)
        }
    }
}
