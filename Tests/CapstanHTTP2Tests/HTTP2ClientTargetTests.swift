@testable import CapstanHTTP2
import CapstanRPC
import CapstanTestSupport
import Glibc
import Testing

@Suite("HTTP/2 client targets: DNS names, calls that never reached a server", .timeLimit(.minutes(1)))
struct HTTP2ClientTargetTests {
    @Test("numeric hosts are addresses; other hosts must be DNS names, resolved later")
    func parsing() throws {
        #expect(try ClientTarget(parsing: "127.0.0.1:80") == .address(SocketAddress(host: "127.0.0.1", port: 80)))
        #expect(try ClientTarget(parsing: "[::1]:80") == .address(SocketAddress(host: "::1", port: 80)))
        #expect(try ClientTarget(parsing: "localhost:7443") == .name(host: "localhost", port: 7443))
        #expect(try ClientTarget(parsing: "api-1.cluster.example:443") == .name(host: "api-1.cluster.example", port: 443))
        #expect(try ClientTarget(parsing: "localhost:7443").description == "localhost:7443")
        // etcd's endpoint spelling.
        #expect(try ClientTarget(parsing: "http://127.0.0.1:2379") == .address(SocketAddress(host: "127.0.0.1", port: 2379)))
        #expect(try ClientTarget(parsing: "HTTP://localhost:2379/") == .name(host: "localhost", port: 2379))
        for (bad, says) in [
            ("https://127.0.0.1:2379", "TLS is not supported"), ("http://127.0.0.1:2379/v3", "no path"),
            ("unix://x:1", "unix:// is not supported"), ("http://localhost", "the port is missing"),
            ("http://http://h:1", "no path"),
        ] {
            #expect(throws: HTTP2TransportError.self, "\(bad)") { try ClientTarget(parsing: bad) }
            do { _ = try ClientTarget(parsing: bad) } catch { #expect("\(error)".contains(says), "\(error)") }
        }
        for bad in ["a_b:80", "a..b:80", "x.-y:80", "1.2.3.4.5:80", "host:99999", "host:", "\(String(repeating: "a", count: 64)):80", "http://"] {
            #expect(throws: HTTP2TransportError.self, "\(bad)") { try ClientTarget(parsing: bad) }
        }
    }

    @Test("getaddrinfo resolves localhost to loopback")
    func resolver() throws {
        let addresses = try NameResolver.resolve(host: "localhost", port: 7443)
        #expect(!addresses.isEmpty)
        #expect(addresses.allSatisfy { ($0.host == "127.0.0.1" || $0.host == "::1") && $0.port == 7443 })
    }

    @Test("a DNS name target connects to the address it resolves to")
    func nameTarget() async throws {
        try await withHTTP2Server { harness in
            let transport = try HTTP2ClientTransport(
                targets: ["localhost:\(harness.server.localPort)"], group: harness.group)
            let client = RPCClient(transport: transport)
            for index in 0..<3 {
                #expect(try await client.unary(Echo.get, Text("\(index)")).value == "echo: \(index)")
            }
            #expect(transport.connectionCount == 1)
            await transport.close()
        }
    }

    /// `getaddrinfo` blocks: on a loop thread it would stall every connection of the loop.
    @Test("a name target works for a task that prefers a loop, and is resolved off the loops, on a thread of its own")
    func resolvedOffTheLoops() async throws {
        try await withHTTP2Server { harness in
            let loops = harness.group.loops
            let threads = Locked<[(onLoop: Bool, name: String)]>([])
            let transport = try HTTP2ClientTransport(
                targets: ["localhost:\(harness.server.localPort)"], configuration: .defaults, group: harness.group,
                resolve: { host, port throws(HTTP2TransportError) in
                    threads.withLock { $0.append((loops.contains { $0.inEventLoop }, currentThreadName())) }
                    return try NameResolver.resolve(host: host, port: port)
                })
            let client = RPCClient(transport: transport)
            let (onLoop, replies) = try await Task(executorPreference: loops[0]) {
                let onLoop = loops[0].inEventLoop
                var replies: [String] = []
                for index in 0..<3 { replies.append(try await client.unary(Echo.get, Text("\(index)")).value) }
                return (onLoop, replies)
            }.value
            #expect(onLoop, "the calling task runs on the loop")
            #expect(replies == ["echo: 0", "echo: 1", "echo: 2"])
            #expect(threads.value.count == 1)
            #expect(threads.value.allSatisfy { !$0.onLoop && $0.name == "capstan-resolve" }, "\(threads.value)")
            await transport.close()
        }
    }

    @Test("calls waiting for a slow resolution end at their deadline or when cancelled; one resolution serves them all")
    func waitingForResolution() async throws {
        try await withHTTP2Server { harness in
            // The resolver blocks reading this pipe until the test writes to it.
            var ends: [Int32] = [-1, -1]
            try #require(pipe(&ends) == 0)
            let (held, release) = (ends[0], ends[1])
            let released = Locked(false)
            let releaseResolver: @Sendable () -> Void = {
                let first = released.withLock { done in
                    defer { done = true }
                    return !done
                }
                guard first else { return }
                var byte: UInt8 = 1
                _ = write(release, &byte, 1)
            }
            defer {
                releaseResolver()
                close(release)
            }
            let resolutions = Counter()
            let transport = try HTTP2ClientTransport(
                targets: ["localhost:\(harness.server.localPort)"], configuration: .defaults, group: harness.group,
                resolve: { host, port throws(HTTP2TransportError) in
                    resolutions.increment()
                    var byte: UInt8 = 0
                    _ = read(held, &byte, 1)
                    close(held)
                    return try NameResolver.resolve(host: host, port: port)
                })
            let client = RPCClient(transport: transport)
            let expired = await rpcError {
                _ = try await client.unary(Echo.get, "late", options: CallOptions(timeout: .milliseconds(200)))
            }
            #expect(expired?.code == .deadlineExceeded)
            let cancelled = Task { try await client.unary(Echo.get, "cancelled") }
            cancelled.cancel()
            if case .success = await cancelled.result { Issue.record("a cancelled call waiting for resolution succeeded") }
            releaseResolver()
            #expect(try await client.unary(Echo.get, "after").value == "echo: after")
            #expect(resolutions.value == 1)
            await transport.close()
        }
    }

    @Test("a call no target could take is marked unprocessed; a server cannot set that mark")
    func unprocessedMark() async throws {
        let refused = try RefusedPort()
        defer { withExtendedLifetime(refused) {} }
        let group = try EventLoopGroup(threads: 1)
        let transport = try HTTP2ClientTransport(targets: ["127.0.0.1:\(refused.port)"], group: group)
        let error = await rpcError { _ = try await RPCClient(transport: transport).unary(Echo.get, "x") }
        #expect(error?.code == .unavailable)
        #expect(error?.trailers.first(HTTP2ClientTransport.unprocessedKey) == "1")
        await transport.close()
        await group.shutdown()

        let routes: (inout RPCRouter) -> Void = { router in
            router.unary(Echo.get) { _, _ in
                throw RPCError(
                    code: .unavailable, message: "processed",
                    trailers: [HTTP2ClientTransport.unprocessedKey: "1", "x-kept": "yes"])
            }
        }
        try await withHTTP2Server(routes: routes) { harness in
            let error = await rpcError { _ = try await harness.client.unary(Echo.get, "x") }
            #expect(error?.code == .unavailable)
            #expect(error?.message == "processed")
            #expect(error?.trailers.first("x-kept") == "yes")
            #expect(error?.trailers.first(HTTP2ClientTransport.unprocessedKey) == nil)
        }
    }
}

/// The calling thread's name (from `/proc/thread-self/comm`).
func currentThreadName() -> String {
    let fd = open("/proc/thread-self/comm", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return "?" }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 32)
    let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard count > 0 else { return "?" }
    return String(decoding: buffer.prefix(count), as: UTF8.self).trimmingSuffix("\n")
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
