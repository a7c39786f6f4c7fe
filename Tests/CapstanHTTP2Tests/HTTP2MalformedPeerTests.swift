@testable import CapstanHTTP2
import CapstanRPC
import CapstanTestSupport
import Glibc
import Testing

@Suite("HTTP/2 malformed requests from a raw client", .timeLimit(.minutes(1)))
struct HTTP2MalformedPeerTests {
    struct Header: Sendable {
        let name: String
        let value: String
        init(_ name: String, _ value: String) { self.name = name; self.value = value }
    }

    /// What a raw request got back.
    struct Reply: Sendable {
        let fields: [Header]
        let data: [UInt8]
        let resetCode: UInt32?
        init(_ response: RawHTTP2Client.Response) {
            fields = response.headers.flatMap { $0 }.map { Header($0.0, $0.1) }
            data = response.data
            resetCode = response.resetCode
        }
        func value(_ name: String) -> String? { fields.last { $0.name == name }?.value }
    }

    static let getPath = "/capstan.test.Echo/Get"

    /// Sends `body` as one request on a fresh raw connection; returns the response.
    static func send(
        port: Int,
        path: String = getPath,
        contentType: String = "application/grpc",
        headers: [Header] = [],
        body: [UInt8]
    ) async throws -> Reply {
        try await runBlocking {
            let raw = try RawHTTP2Client(port: port)
            defer { raw.close() }
            try raw.startSession()
            let id = try raw.request(path: path, contentType: contentType, extraHeaders: headers.map { ($0.name, $0.value) }, body: body)
            try raw.run { $0.responses[id]?.closed == true }
            guard let response = raw.responses[id] else { throw RawError("no response") }
            return Reply(response)
        }
    }

    @Test("a well-formed raw request is answered (the raw client works)")
    func wellFormed() async throws {
        try await withHTTP2Server { harness in
            let response = try await Self.send(port: harness.server.localPort, body: grpcPrefix(length: 2) + Array("hi".utf8))
            #expect(response.value(":status") == "200")
            #expect(response.value("grpc-status") == "0")
            #expect(response.data == grpcPrefix(length: 8) + Array("echo: hi".utf8))
        }
    }

    @Test("a message cut short by END_STREAM ends the call with INTERNAL; the server keeps serving")
    func truncated() async throws {
        try await withHTTP2Server { harness in
            let response = try await Self.send(port: harness.server.localPort, body: grpcPrefix(length: 100) + Array("only ten!!".utf8))
            #expect(response.value("grpc-status") == String(RPCCode.internal.rawValue))
            #expect(try await harness.client.unary(Echo.get, "ok").value == "echo: ok")
        }
    }

    @Test("a length prefix past the limit is RESOURCE_EXHAUSTED and the stream is reset")
    func oversizedPrefix() async throws {
        try await withHTTP2Server { harness in
            let port = harness.server.localPort
            let (first, second) = try await runBlocking {
                let raw = try RawHTTP2Client(port: port)
                defer { raw.close() }
                try raw.startSession()
                // The client keeps its side open: the server answers, then resets the stream.
                let id = try raw.request(path: Self.getPath, body: grpcPrefix(length: 5_000_000) + [1, 2, 3], endStream: false)
                try raw.run { $0.responses[id]?.closed == true }
                // The same connection still serves.
                let next = try raw.request(path: Self.getPath, body: grpcPrefix(length: 1) + [65])
                try raw.run { $0.responses[next]?.closed == true }
                return (Reply(raw.responses[id]!), Reply(raw.responses[next]!))
            }
            #expect(first.value("grpc-status") == String(RPCCode.resourceExhausted.rawValue))
            #expect(first.resetCode == nil || first.resetCode == 0)
            #expect(second.value("grpc-status") == "0")
        }
    }

    @Test("an invalid compressed flag is INTERNAL; a compressed message is UNIMPLEMENTED")
    func badFlags() async throws {
        try await withHTTP2Server { harness in
            let badFlag = try await Self.send(port: harness.server.localPort, body: grpcPrefix(length: 1, flag: 7) + [65])
            #expect(badFlag.value("grpc-status") == String(RPCCode.internal.rawValue))
            let compressed = try await Self.send(port: harness.server.localPort, body: grpcPrefix(length: 1, flag: 1) + [65])
            #expect(compressed.value("grpc-status") == String(RPCCode.unimplemented.rawValue))
        }
    }

    @Test("a request that is not gRPC gets HTTP 415; an unsupported grpc-encoding a trailers-only UNIMPLEMENTED")
    func rejections() async throws {
        try await withHTTP2Server { harness in
            let json = try await Self.send(port: harness.server.localPort, contentType: "application/json", body: Array("{}".utf8))
            #expect(json.value(":status") == "415")
            let gzip = try await Self.send(port: harness.server.localPort, headers: [Header("grpc-encoding", "gzip")], body: grpcPrefix(length: 0))
            #expect(gzip.value(":status") == "200")
            #expect(gzip.value("grpc-status") == String(RPCCode.unimplemented.rawValue))
            #expect(gzip.value("grpc-accept-encoding") == "identity")
            #expect(try await harness.client.unary(Echo.get, "fine").value == "echo: fine")
        }
    }

    @Test("garbage after the preface closes only that connection")
    func garbage() async throws {
        try await withHTTP2Server { harness in
            // A healthy call keeps its connection through this.
            #expect(try await harness.client.unary(Echo.get, "before").value == "echo: before")
            let port = harness.server.localPort
            try await runBlocking {
                let raw = try RawHTTP2Client(port: port)
                defer { raw.close() }
                // Preface, then a DATA frame on stream 0 (a connection error), then noise.
                try raw.sendRaw(RawHTTP2Client.preface + [0, 0, 0, 4, 0, 0, 0, 0, 0] + [0, 0, 4, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]
                    + Array(repeating: 0xAB, count: 64))
                try raw.readUntilClosed()
                let notHTTP2 = try RawHTTP2Client(port: port)
                defer { notHTTP2.close() }
                try notHTTP2.sendRaw(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
                try notHTTP2.readUntilClosed()
            }
            #expect(try await harness.client.unary(Echo.get, "after").value == "echo: after")
            #expect(harness.clientTransport.connectionCount == 1)
            #expect(await eventually { harness.server.connectionCount == 1 })
        }
    }

    @Test("streams past SETTINGS_MAX_CONCURRENT_STREAMS are refused with REFUSED_STREAM")
    func refusedStreams() async throws {
        let gate = Gate()
        let held = MethodDescriptor<Text, Text>(service: "capstan.test.Raw", method: "Held", kind: .unary)
        var server = HTTP2ServerTransport.Configuration()
        server.maxConcurrentStreams = 3
        try await withHTTP2Server(server: server, routes: { router in
            router.unary(held) { request, _ in
                await gate.wait()
                return request
            }
        }) { harness in
            let port = harness.server.localPort
            let replies = try await runBlocking { () -> [Reply] in
                let raw = try RawHTTP2Client(port: port)
                defer { raw.close() }
                try raw.startSession()
                // The raw session has not seen the server's SETTINGS yet, so it sends all six.
                let ids = try (0..<6).map { _ in try raw.request(path: held.path, body: grpcPrefix(length: 1) + [65]) }
                try raw.run { client in ids.filter { client.responses[$0]?.resetCode == 7 }.count == 3 }
                gate.open()
                try raw.run { client in ids.filter { client.responses[$0]?.closed == true }.count == 6 }
                return ids.map { Reply(raw.responses[$0]!) }
            }
            #expect(replies.filter { $0.resetCode == 7 }.count == 3)
            #expect(replies.filter { $0.value("grpc-status") == "0" }.count == 3)
        }
    }

    @Test("keepalive: a peer that never answers PING is disconnected; a live client stays")
    func keepalive() async throws {
        var server = HTTP2ServerTransport.Configuration()
        // PINGs every 50 ms; an answer may take 2 s, so a live client whose loop a loaded machine
        // held back for a moment keeps its connection.
        server.keepalive = Keepalive(interval: .milliseconds(50), timeout: .seconds(2))
        try await withHTTP2Server(server: server) { harness in
            #expect(try await harness.client.unary(Echo.get, "one").value == "echo: one")
            let port = harness.server.localPort
            try await runBlocking {
                let raw = try RawHTTP2Client(port: port)
                defer { raw.close() }
                // A valid preface and empty SETTINGS, then silence: the PINGs go unanswered.
                try raw.sendRaw(RawHTTP2Client.preface + [0, 0, 0, 4, 0, 0, 0, 0, 0])
                try raw.readUntilClosed()
            }
            // The RPC client answered its PINGs all along and still has its connection.
            #expect(try await harness.client.unary(Echo.get, "two").value == "echo: two")
            #expect(harness.clientTransport.connectionCount == 1)
        }
    }

    @Test("keepalive pings a peer its interval after the peer's last bytes, not up to an interval later")
    func keepaliveFromLastBytes() async throws {
        var server = HTTP2ServerTransport.Configuration()
        server.keepalive = Keepalive(interval: .seconds(4), timeout: .milliseconds(100))
        try await withHTTP2Server(server: server) { harness in
            let port = harness.server.localPort
            try await runBlocking {
                let raw = try RawHTTP2Client(port: port)
                defer { raw.close() }
                try raw.sendRaw(RawHTTP2Client.preface + [0, 0, 0, 4, 0, 0, 0, 0, 0])
                // A PING every 100 ms for 4.6 s, past the server's first look at 4 s, then silence
                // (its PINGs go unanswered): closed 4.1 s after the last bytes. Looking at fixed
                // intervals and skipping any with a read, the server would ping at 12 s and close
                // 7.5 s after them. (Wide margins: a loaded machine delays timers.)
                let ping: [UInt8] = [0, 0, 8, 6, 0, 0, 0, 0, 0] + [UInt8](repeating: 1, count: 8)
                var silent = ContinuousClock.now
                for index in 0..<46 {
                    try raw.sendRaw(ping)
                    silent = .now
                    if index < 45 { usleep(100_000) }
                }
                try raw.readUntilClosed()
                let quiet = silent.duration(to: .now)
                #expect(quiet < .milliseconds(5_800), "closed \(quiet) after the peer's last bytes")
                #expect(quiet > .milliseconds(3_800), "closed \(quiet) after the peer's last bytes: pinged too early")
            }
        }
    }

    @Test("a connection without the client's preface and SETTINGS is closed after the handshake timeout; a complete one stays")
    func handshakeTimeout() async throws {
        var server = HTTP2ServerTransport.Configuration()
        server.keepalive = nil
        server.handshakeTimeout = .milliseconds(300)
        try await withHTTP2Server(server: server) { harness in
            let port = harness.server.localPort
            try await runBlocking {
                let silent = try RawHTTP2Client(port: port)
                defer { silent.close() }
                let halfPreface = try RawHTTP2Client(port: port)
                defer { halfPreface.close() }
                try halfPreface.sendRaw(Array(RawHTTP2Client.preface.prefix(10)))
                let prefaceOnly = try RawHTTP2Client(port: port)
                defer { prefaceOnly.close() }
                try prefaceOnly.sendRaw(RawHTTP2Client.preface)
                let complete = try RawHTTP2Client(port: port)
                defer { complete.close() }
                try complete.sendRaw(RawHTTP2Client.preface + [0, 0, 0, 4, 0, 0, 0, 0, 0])

                // Each incomplete one is closed (readUntilClosed throws after 10 s of silence).
                for raw in [silent, halfPreface, prefaceOnly] { try raw.readUntilClosed() }
                // The complete one, silent since, outlived more than three timeouts.
                usleep(700_000)
                let closed = complete.isClosedNow()
                #expect(!closed, "a connection that finished its handshake was closed")
            }
            #expect(try await harness.client.unary(Echo.get, "still").value == "echo: still")
        }
    }

    @Test("keepalive without pings on idle connections: an idle silent peer stays; with a stream open it is pinged")
    func keepaliveOnlyWithStreams() async throws {
        var server = HTTP2ServerTransport.Configuration()
        server.keepalive = Keepalive(
            interval: .milliseconds(50), timeout: .milliseconds(50), pingsWithoutStreams: false)
        try await withHTTP2Server(server: server) { harness in
            let port = harness.server.localPort
            try await runBlocking {
                let idle = try RawHTTP2Client(port: port)
                defer { idle.close() }
                try idle.sendRaw(RawHTTP2Client.preface + [0, 0, 0, 4, 0, 0, 0, 0, 0])
                // Ten keepalive intervals: a PING would have gone unanswered and closed it.
                usleep(500_000)
                let closed = idle.isClosedNow()
                #expect(!closed, "the server pinged a connection with no stream open")

                // A stream open and the peer silent (its PING ACKs never go out): closed.
                let busy = try RawHTTP2Client(port: port)
                defer { busy.close() }
                try busy.startSession()
                _ = try busy.request(path: Self.getPath, body: [], endStream: false)
                try busy.run { _ in true }
                try busy.readUntilClosed()
            }
        }
    }
}
