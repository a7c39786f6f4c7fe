@testable import CapstanHTTP2
import CapstanRPC
import Glibc
import Testing

@Suite("HTTP/2 server sockets find vanished peers", .timeLimit(.minutes(1)))
struct HTTP2TCPKeepaliveTests {
    /// An `Int32` socket option of `fd`.
    static func option(_ fd: Int32, _ level: Int32, _ name: Int32) -> Int32 {
        var value: Int32 = -1
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, level, name, &value, &length) == 0 ? value : -1
    }

    @Test("accepted connections have the kernel's keepalive on, with the configured timing", arguments: [true, false])
    func acceptedSocketOptions(configured: Bool) async throws {
        var configuration = HTTP2ServerTransport.Configuration()
        if !configured { configuration.tcpKeepalive = nil }
        try await withHTTP2Server(server: configuration) { harness in
            #expect(try await harness.client.unary(Echo.get, "hi").value == "echo: hi")
            let connection = try #require(harness.server.openConnections.first)
            let options = await withCheckedContinuation { continuation in
                connection.loop.execute {
                    let fd = connection.fd
                    continuation.resume(returning: [
                        Self.option(fd, SOL_SOCKET, SO_KEEPALIVE), Self.option(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE),
                        Self.option(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL), Self.option(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT),
                    ])
                }
            }
            if configured {
                #expect(options == [1, 15, 15, 9])
            } else {
                #expect(options[0] == 0)
            }
        }
    }
}
