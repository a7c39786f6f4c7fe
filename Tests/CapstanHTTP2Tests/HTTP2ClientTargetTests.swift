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
        for bad in ["a_b:80", "a..b:80", "x.-y:80", "1.2.3.4.5:80", "host:99999", "host:", "\(String(repeating: "a", count: 64)):80"] {
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
