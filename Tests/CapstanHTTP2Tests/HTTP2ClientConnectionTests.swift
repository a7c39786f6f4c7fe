@testable import CapstanHTTP2
import CapstanRPC
import CapstanTestSupport
import Glibc
import Testing

@Suite("HTTP/2 client connections: failover, unreachable targets, deadlines", .timeLimit(.minutes(1)))
struct HTTP2ClientConnectionTests {

    @Test("with an unreachable first target, calls fail over to the next one")
    func failover() async throws {
        let refused = try RefusedPort()
        defer { withExtendedLifetime(refused) {} }
        let dead = refused.port
        try await withHTTP2Server { harness in
            let transport = try HTTP2ClientTransport(
                targets: ["127.0.0.1:\(dead)", harness.target], group: harness.group)
            let client = RPCClient(transport: transport)
            for index in 0..<5 {
                #expect(try await client.unary(Echo.get, Text("\(index)")).value == "echo: \(index)")
            }
            #expect(transport.connectionCount == 1)
            await transport.close()
        }
    }

    @Test("a held port (the unreachable targets' own) refuses connections, and no server can take it")
    func refusedPortIsHeld() async throws {
        var held: RefusedPort? = try RefusedPort()
        let port = held!.port
        #expect(!canBindLoopback(port: port), "a server binding with SO_REUSEADDR must not get it")
        let group = try EventLoopGroup(threads: 1)
        let transport = try HTTP2ClientTransport(targets: ["127.0.0.1:\(port)"], group: group)
        let error = await rpcError { _ = try await RPCClient(transport: transport).unary(Echo.get, "x") }
        #expect(error?.code == .unavailable)
        await transport.close()
        await group.shutdown()
        held = nil
        #expect(canBindLoopback(port: port), "released when the value goes")
    }

    @Test("no reachable target: UNAVAILABLE at once")
    func unreachable() async throws {
        let (first, second) = (try RefusedPort(), try RefusedPort())
        defer { withExtendedLifetime((first, second)) {} }
        let group = try EventLoopGroup(threads: 1)
        let transport = try HTTP2ClientTransport(
            targets: ["127.0.0.1:\(first.port)", "[::1]:\(second.port)"], group: group)
        let error = await rpcError { _ = try await RPCClient(transport: transport).unary(Echo.get, "x") }
        #expect(error?.code == .unavailable)
        // Still in backoff: fails again without waiting.
        let again = await rpcError { _ = try await RPCClient(transport: transport).unary(Echo.get, "x") }
        #expect(again?.code == .unavailable)
        await transport.close()
        await group.shutdown()
    }

    @Test("a server that accepts but never speaks HTTP/2: the call's deadline bounds the wait")
    func silentServer() async throws {
        let group = try EventLoopGroup(threads: 1)
        let silent = try Socket.listen(on: SocketAddress(host: "127.0.0.1", port: 0))
        defer { System.close(silent) }
        let port = Socket.localAddress(silent)!.port
        let transport = try HTTP2ClientTransport(targets: ["127.0.0.1:\(port)"], group: group)
        let error = await rpcError {
            _ = try await RPCClient(transport: transport).unary(Echo.get, "x", options: CallOptions(timeout: .milliseconds(200)))
        }
        #expect(error?.code == .deadlineExceeded)
        await transport.close()
        await group.shutdown()
    }

    @Test("a target that stops answering on a ready connection is backed off: the next call goes to the next target, not to a new connection to the silent one")
    func unresponsivePeerBacksOff() async throws {
        // A server that completes the HTTP/2 handshake on its first connection and then freezes:
        // it answers nothing more, and later connections wait in its backlog, never accepted
        // (as a stopped etcd member's would).
        let listener = try Socket.listen(on: SocketAddress(host: "127.0.0.1", port: 0))
        defer { System.close(listener) }
        let frozenPort = Socket.localAddress(listener)!.port
        let stop = Locked(false)
        let frozen = try OSThread.spawn(name: "frozen-peer") {
            var fd: Int32 = -1
            while fd < 0 && !stop.value {
                if let accepted = try? Socket.accept(listener) { fd = accepted.fd } else { usleep(10_000) }
            }
            guard fd >= 0 else { return }
            defer { System.close(fd) }
            usleep(100_000)  // the client's preface and SETTINGS
            var buffer = [UInt8](repeating: 0, count: 4096)
            _ = read(fd, &buffer, buffer.count)
            let settings: [UInt8] = [0, 0, 0, 4, 0, 0, 0, 0, 0]
            let settingsAck: [UInt8] = [0, 0, 0, 4, 1, 0, 0, 0, 0]
            _ = (settings + settingsAck).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            while !stop.value { usleep(20_000) }
        }
        defer {
            stop.withLock { $0 = true }
            frozen.join()
        }
        try await withHTTP2Server { harness in
            var configuration = HTTP2ClientTransport.Configuration()
            // As the etcd store's: no pings on a connection without streams (one still waiting
            // for its handshake has none).
            configuration.keepalive = Keepalive(interval: .milliseconds(200), timeout: .milliseconds(300), pingsWithoutStreams: false)
            // Far longer than the calls' deadlines: a call sent to a new connection to the
            // frozen peer would wait out its deadline.
            configuration.connectTimeout = .seconds(60)
            let transport = try HTTP2ClientTransport(
                targets: ["127.0.0.1:\(frozenPort)", harness.target], configuration: configuration, group: harness.group)
            let client = RPCClient(transport: transport)
            // The first call goes to the frozen peer and fails once the keepalive gives up on it.
            let first = await rpcError { _ = try await client.unary(Echo.get, "x", options: CallOptions(timeout: .seconds(10))) }
            #expect(first?.code == .unavailable && first?.message.contains("keepalive") == true, "\(String(describing: first))")
            for index in 0..<3 {
                let reply = try await client.unary(Echo.get, Text("\(index)"), options: CallOptions(timeout: .seconds(10)))
                #expect(reply.value == "echo: \(index)")
            }
            await transport.close()
        }
    }

    @Test("bad target strings are refused")
    func badTargets() async throws {
        let group = try EventLoopGroup(threads: 1)
        #expect(throws: HTTP2TransportError.self) { try HTTP2ClientTransport(targets: [], group: group) }
        #expect(throws: HTTP2TransportError.self) { try HTTP2ClientTransport(targets: ["bad host!:80"], group: group) }
        #expect(throws: HTTP2TransportError.self) { try HTTP2ClientTransport(targets: ["1.2.3:80"], group: group) }
        #expect(throws: HTTP2TransportError.self) { try HTTP2ClientTransport(targets: ["-api:80"], group: group) }
        #expect(throws: HTTP2TransportError.self) { try HTTP2ClientTransport(targets: ["localhost:port"], group: group) }
        #expect(throws: HTTP2TransportError.self) { try HTTP2ClientTransport(targets: ["::1:80"], group: group) }
        #expect(throws: HTTP2TransportError.self) { try HTTP2ClientTransport(targets: ["127.0.0.1:99999"], group: group) }
        #expect(throws: HTTP2TransportError.self) { try HTTP2ClientTransport(targets: ["[::1]80"], group: group) }
        await group.shutdown()
    }

    @Test("addresses parse and print in gRPC's notation")
    func addresses() throws {
        #expect(try SocketAddress(parsing: "127.0.0.1:8080").description == "ipv4:127.0.0.1:8080")
        #expect(try SocketAddress(parsing: "[::1]:8080").description == "ipv6:[::1]:8080")
        #expect(try SocketAddress(parsing: "localhost:1").hostAndPort == "127.0.0.1:1")
        #expect(try SocketAddress(parsing: "[::1]:0").hostAndPort == "[::1]:0")
    }

    @Test("close lets calls in flight finish and refuses new ones")
    func closeWhileBusy() async throws {
        let gate = Gate()
        let arrived = Gate()
        let held = MethodDescriptor<Text, Text>(service: "capstan.test.Close", method: "Held", kind: .unary)
        try await withHTTP2Server(routes: { router in
            Echo.register(in: &router)
            router.unary(held) { request, _ in
                arrived.open()
                await gate.wait()
                return request
            }
        }) { harness in
            let transport = try harness.makeClientTransport()
            let client = RPCClient(transport: transport)
            let call = Task { try await client.unary(held, "in flight") }
            await arrived.wait()
            let closing = Task { await transport.close() }
            #expect(await eventually { await rpcError { _ = try await client.unary(Echo.get, "x") }?.code == .unavailable })
            gate.open()
            #expect(try await call.value.value == "in flight")
            await closing.value
            #expect(transport.connectionCount == 0)
        }
    }
}

/// A server that answers UNAVAILABLE is up but cannot serve: later calls go to the next target.
@Suite("HTTP/2 client: a server's UNAVAILABLE moves calls on")
struct HTTP2UnavailableFailoverTests {
    /// Routes answering `Echo.get` with `reply`, or failing it with `code` when the request asks
    /// for it ("fail").
    static func routes(_ name: String, failing code: RPCCode) -> (inout RPCRouter) -> Void {
        { router in
            router.unary(Echo.get) { request, _ in
                if request.value == "fail" { throw RPCError(code: code, message: "\(name) cannot serve") }
                return Text(name)
            }
        }
    }

    @Test("UNAVAILABLE from the first server: the next call goes to the second, and stays there")
    func movesOn() async throws {
        try await withHTTP2Server(routes: Self.routes("first", failing: .unavailable)) { first in
            try await withHTTP2Server(routes: Self.routes("second", failing: .unavailable)) { second in
                let transport = try HTTP2ClientTransport(targets: [first.target, second.target], group: first.group)
                let client = RPCClient(transport: transport)
                #expect(try await client.unary(Echo.get, "x").value == "first")
                let error = await rpcError { _ = try await client.unary(Echo.get, "fail") }
                #expect(error?.code == .unavailable && error?.message == "first cannot serve")
                #expect(try await client.unary(Echo.get, "x").value == "second")
                #expect(try await client.unary(Echo.get, "x").value == "second")
                // The second one failing the same way sends calls back to the first.
                _ = await rpcError { _ = try await client.unary(Echo.get, "fail") }
                #expect(try await client.unary(Echo.get, "x").value == "first")
                await transport.close()
            }
        }
    }

    @Test("other codes, and UNAVAILABLE with one target, change nothing")
    func staysOtherwise() async throws {
        try await withHTTP2Server(routes: Self.routes("first", failing: .notFound)) { first in
            try await withHTTP2Server(routes: Self.routes("second", failing: .unavailable)) { second in
                let transport = try HTTP2ClientTransport(targets: [first.target, second.target], group: first.group)
                let client = RPCClient(transport: transport)
                let error = await rpcError { _ = try await client.unary(Echo.get, "fail") }
                #expect(error?.code == .notFound)
                #expect(try await client.unary(Echo.get, "x").value == "first")
                await transport.close()
                let alone = RPCClient(transport: second.clientTransport)
                _ = await rpcError { _ = try await alone.unary(Echo.get, "fail") }
                #expect(try await alone.unary(Echo.get, "x").value == "second")
            }
        }
    }
}

/// A transport's close can queue a new connection's drain on its loop ahead of its connect: the
/// drain closes the descriptor, and the connect must then leave that number alone (another
/// socket or file may hold it by then).
@Suite("HTTP/2 client connections: closed before they start")
struct HTTP2ClientConnectionCloseRaceTests {
    @Test("a connection drained before its connect ran never touches its old descriptor number")
    func drainedBeforeConnect() async throws {
        let group = try EventLoopGroup(threads: 1)
        let peer = try Socket.listen(on: SocketAddress(host: "127.0.0.1", port: 0))
        defer { System.close(peer) }
        let port = try #require(Socket.localAddress(peer)).port
        let address = try SocketAddress(host: "127.0.0.1", port: port)
        let pool = ConnectionPool(
            targets: [try ClientTarget(parsing: "127.0.0.1:\(port)")], configuration: .defaults, group: group)
        let loop = group.loops[0]
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        try #require(devNull >= 0)
        defer { close(devNull) }
        // The closed number must come back as our /dev/null copy (`F_DUPFD` takes the lowest free
        // number from it, never another's); other tests open descriptors meanwhile, so retry.
        var checked = false
        for _ in 0..<50 where !checked {
            let (fd, connected) = try Socket.connect(to: address)
            let connection = ClientConnection(
                loop: loop, fd: fd, address: address, configuration: .defaults, pool: pool)
            let outcome: (reused: Bool, before: Int, after: Int, stillOpen: Bool) = await withCheckedContinuation {
                continuation in
                loop.execute {
                    let before = loop.registrationCount
                    connection.drain()  // no streams: closes at once, as the pool's close would
                    let copy = fcntl(devNull, F_DUPFD_CLOEXEC, fd)
                    connection.connect(connected: connected)
                    let after = loop.registrationCount
                    let stillOpen = fcntl(copy, F_GETFD) >= 0
                    if stillOpen { close(copy) }
                    continuation.resume(returning: (copy == fd, before, after, stillOpen))
                }
            }
            guard outcome.reused else { continue }
            checked = true
            #expect(outcome.after == outcome.before, "the closed connection registered a descriptor")
            #expect(outcome.stillOpen, "the closed connection closed descriptor \(fd), which it no longer owns")
        }
        #expect(checked, "the closed descriptor's number never came back to the test")
        await pool.close()
        await group.shutdown()
    }
}
