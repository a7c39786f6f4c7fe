import CapstanHTTP2
import Glibc
import Testing

@Suite("The metrics HTTP listener under slow clients", .timeLimit(.minutes(1)))
struct MetricsEndpointTests {
    @Test("32 connections that send half a request head, or nothing, do not keep a scrape waiting")
    func slowClientsDoNotBlockScrapes() throws {
        let endpoint = try MetricsEndpoint(host: "127.0.0.1", port: 0) { "up 1\n" }
        defer { endpoint.stop() }
        var slow: [Int32] = []
        defer { for fd in slow { close(fd) } }
        for index in 0..<32 {
            let fd = try RawConnection.connectedSocket(port: endpoint.port)
            slow.append(fd)
            if index.isMultiple(of: 2) {
                let part = Array("GET /metrics HTTP/1.1\r\nHost: x\r\n".utf8)
                #expect(part.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == part.count)
            }
        }
        // A generous bound: the endpoint drops connections only after 5 s (its timeout), so a
        // scrape queued behind them would take at least that.
        for _ in 0..<3 {
            let started = ContinuousClock.now
            let response = try httpExchange(port: endpoint.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            let took = started.duration(to: .now)
            #expect(response.status == 200)
            #expect(response.body == "up 1\n")
            #expect(took < .seconds(3), "the scrape took \(took)")
        }
    }

    /// With every slot taken, one newcomer replaces exactly one connection (the longest waiting),
    /// not one more for a connection that never came.
    @Test("a newcomer to a full listener replaces one connection, not two")
    func oneNewcomerOneDrop() throws {
        let endpoint = try MetricsEndpoint(host: "127.0.0.1", port: 0) { "up 1\n" }
        defer { endpoint.stop() }
        var idle: [Int32] = []
        defer { for fd in idle { close(fd) } }
        for _ in 0..<16 {
            idle.append(try RawConnection.connectedSocket(port: endpoint.port))
            usleep(20_000)  // in separate turns, so that each may later be replaced
        }
        let newcomer = try RawConnection.connectedSocket(port: endpoint.port)
        defer { close(newcomer) }
        usleep(500_000)
        // A dropped connection reads end of file; a kept one has nothing to read yet.
        let dropped = idle.filter { fd in
            var pending = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            return poll(&pending, 1, 0) == 1
        }
        #expect(dropped.count == 1, "\(dropped.count) of 16 connections were dropped for one newcomer")
        #expect(dropped.first == idle.first, "the longest waiting one")
    }
}
