@testable import CapstanHTTP2
import CapstanRPC
import CapstanTestSupport
import Glibc
import Testing

@Suite("HTTP/2 client: the server's stream limit", .timeLimit(.minutes(1)))
struct HTTP2ClientStreamLimitTests {
    /// Answers "first", then waits at the gate (a watch that stays open).
    static let watch = MethodDescriptor<Text, Text>(service: "capstan.test.Limit", method: "Watch", kind: .serverStreaming)

    /// Calls made while a connection is set up all reserve it; nghttp2 would hold back those past
    /// the limit the server then announces until others end, which long-lived calls never do.
    @Test("more long-lived calls than the server's limit, made while connecting, all start (on further connections)")
    func callsPastTheLimitWhileConnecting() async throws {
        let limit = 2
        let calls = 5
        var server = HTTP2ServerTransport.Configuration()
        server.maxConcurrentStreams = limit
        let serving = Gate()
        let gate = Gate()
        try await withHTTP2Server(serving: serving, server: server, routes: { router in
            router.serverStreaming(Self.watch) { _, responses, _ in
                try await responses.write(Text("first"))
                await gate.wait()
            }
        }) { harness in
            let started = Counter()
            let client = harness.client
            let tasks = (0..<calls).map { _ in
                Task {
                    let call = try await client.serverStreaming(Self.watch, "x")
                    var iterator = call.makeAsyncIterator()
                    let first = try await iterator.next()
                    started.increment()
                    while try await iterator.next() != nil {}
                    return first?.value
                }
            }
            // Every call reserved the one connection before the server said anything.
            #expect(await eventually { harness.clientTransport.streamCounts.reserved == calls })
            #expect(harness.clientTransport.connectionCount == 1)
            serving.open()
            let allStarted = await eventually(timeout: .seconds(20)) { started.value == calls }
            #expect(allStarted, "\(started.value) of \(calls) calls started")
            #expect(harness.clientTransport.connectionCount == (calls + limit - 1) / limit)
            #expect(harness.clientTransport.streamCounts == (reserved: calls, admitted: calls))
            gate.open()
            for task in tasks {
                let first = try await task.value
                #expect(first == "first")
            }
            #expect(await eventually { harness.clientTransport.streamCounts == (reserved: 0, admitted: 0) })
        }
    }

    /// A server that lowers its limit after the client learnt it: nghttp2 queues the streams past
    /// it, and when the connection then dies their HEADERS never left.
    @Test("streams whose HEADERS were still queued when the connection died are marked unprocessed")
    func queuedStreamsAreUnprocessed() async throws {
        try await Self.withQueuedStreams { peer, sent, queued in
            try await runBlocking { peer.closeConnection() }
            let firstEnd = try await Self.status(of: sent)
            #expect(firstEnd.status.code == .unavailable)
            #expect(firstEnd.trailers.first(HTTP2ClientTransport.unprocessedKey) == nil, "its HEADERS went out")
            for stream in queued {
                let end = try await Self.status(of: stream)
                #expect(end.status.code == .unavailable)
                #expect(end.trailers.first(HTTP2ClientTransport.unprocessedKey) == "1", "\(end.status)")
            }
        }
    }

    /// A graceful GOAWAY while streams wait in nghttp2's queue behind the server's limit: they
    /// can never start on this connection, so they end at once as unprocessed (to be retried
    /// elsewhere), not when the connection finally closes; the open stream goes on.
    @Test("streams queued behind the limit end as unprocessed on a graceful GOAWAY, at once")
    func queuedStreamsEndOnGoAway() async throws {
        try await Self.withQueuedStreams { peer, sent, queued in
            // GOAWAY, last stream 1, NO_ERROR; the connection stays open.
            try await runBlocking { try peer.send(type: RawPeer.goAway, payload: [0, 0, 0, 1, 0, 0, 0, 0]) }
            let ends = Locked<[(RPCStatus, Metadata)]>([])
            let readers = queued.map { stream in
                Task {
                    if let end = try? await Self.status(of: stream) { ends.withLock { $0.append(end) } }
                }
            }
            // Bounded: the connection stays open, so a stream that is not ended waits for ever.
            #expect(await eventually(timeout: .seconds(10)) { ends.withLock { $0.count } == 2 })
            for (status, trailers) in ends.withLock({ $0 }) {
                #expect(status.code == .unavailable)
                #expect(trailers.first(HTTP2ClientTransport.unprocessedKey) == "1", "\(status)")
            }
            // Their HEADERS were cancelled in the queue: neither they nor a RST_STREAM on an idle
            // stream (a protocol error for the server) went out.
            let framesOfQueued = try await runBlocking {
                try peer.send(type: RawPeer.ping, payload: [UInt8](repeating: 8, count: 8))
                var frames = 0
                try peer.readUntil { type, flags, stream in
                    if stream > 1 { frames += 1 }
                    return type == RawPeer.ping && flags & 1 != 0
                }
                return frames
            }
            #expect(framesOfQueued == 0)
            // The open stream was not touched by the GOAWAY.
            try await runBlocking { peer.closeConnection() }
            for reader in readers { reader.cancel() }
            let firstEnd = try await Self.status(of: sent)
            #expect(firstEnd.trailers.first(HTTP2ClientTransport.unprocessedKey) == nil)
        }
    }

    /// Runs `body` with a raw peer and a client connected to it that has one stream open (`sent`,
    /// its HEADERS read by the peer) and two more queued in nghttp2 behind a limit the peer
    /// lowered to one (`queued`: submitted, their HEADERS not sent).
    static func withQueuedStreams(
        _ body: (RawPeer, _ sent: ClientTransportStream, _ queued: [ClientTransportStream]) async throws -> Void
    ) async throws {
        let peer = try RawPeer()
        defer { peer.close() }
        let group = try EventLoopGroup(threads: 1)
        let transport = try HTTP2ClientTransport(targets: ["127.0.0.1:\(peer.port)"], group: group)
        let open: @Sendable () async throws -> ClientTransportStream = {
            try await transport.openStream(path: Echo.chat.path, metadata: Metadata(), deadline: nil)
        }
        do {
            async let first = open()
            try await runBlocking {
                try peer.accept()
                try peer.readUntil { type, _, _ in type == RawPeer.settings }
                try peer.send(type: RawPeer.settings, payload: RawPeer.maxConcurrentStreams(100))
                try peer.send(type: RawPeer.settings, flags: 1)
            }
            let sent = try await first
            try await runBlocking {
                try peer.readUntil { type, _, stream in type == RawPeer.headers && stream == 1 }
                // Down to one stream (the one open), acknowledged: later streams queue in nghttp2.
                try peer.send(type: RawPeer.settings, payload: RawPeer.maxConcurrentStreams(1))
                try peer.readUntil { type, flags, _ in type == RawPeer.settings && flags & 1 != 0 }
            }
            let queued = [try await open(), try await open()]
            // Both streams were handed to the loop before the PING left, so they were submitted by
            // the time it is answered; their HEADERS must not have come.
            let headersMeanwhile = try await runBlocking {
                try peer.send(type: RawPeer.ping, payload: [UInt8](repeating: 7, count: 8))
                var headers = 0
                try peer.readUntil { type, flags, _ in
                    if type == RawPeer.headers { headers += 1 }
                    return type == RawPeer.ping && flags & 1 != 0
                }
                return headers
            }
            #expect(headersMeanwhile == 0)
            try await body(peer, sent, queued)
        } catch {
            Issue.record(error)
        }
        await transport.close()
        await group.shutdown()
    }

    static func status(of stream: ClientTransportStream) async throws -> (status: RPCStatus, trailers: Metadata) {
        for try await part in stream.responses {
            if case .status(let status, _, let trailers) = part { return (status, trailers) }
        }
        throw RawError("the stream ended without a status")
    }
}

/// The server end of one HTTP/2 connection, driven frame by frame by a test on blocking sockets
/// (run it inside `runBlocking`): it writes the frames it is told to and reads the client's
/// frames by their headers. Every read is bounded by a receive timeout.
final class RawPeer: Sendable {
    static let headers: UInt8 = 0x1
    static let settings: UInt8 = 0x4
    static let ping: UInt8 = 0x6
    static let goAway: UInt8 = 0x7

    private let listener: Int32
    private let connection = Locked<Int32>(-1)
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw RawError("socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && Glibc.listen(fd, 4) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else {
            Glibc.close(fd)
            throw RawError("bind/listen failed: errno \(errno)")
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// SETTINGS_MAX_CONCURRENT_STREAMS = `value`.
    static func maxConcurrentStreams(_ value: UInt32) -> [UInt8] {
        [0, 3, UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }

    /// Accepts the client's connection (waiting at most 10 s) and reads its preface.
    func accept() throws {
        var poll = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard Glibc.poll(&poll, 1, 10_000) == 1 else { throw RawError("no connection within 10 s") }
        let fd = Glibc.accept(listener, nil, nil)
        guard fd >= 0 else { throw RawError("accept failed: errno \(errno)") }
        RawHTTP2Client.setReceiveTimeout(fd, seconds: 10)
        connection.withLock { $0 = fd }
        let preface = try read(count: RawHTTP2Client.preface.count)
        guard preface == RawHTTP2Client.preface else { throw RawError("not an HTTP/2 preface") }
    }

    func send(type: UInt8, flags: UInt8 = 0, stream: UInt32 = 0, payload: [UInt8] = []) throws {
        let length = payload.count
        let frame = [UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), type, flags,
                     UInt8(stream >> 24 & 0x7f), UInt8(stream >> 16 & 0xff), UInt8(stream >> 8 & 0xff), UInt8(stream & 0xff)]
            + payload
        let fd = connection.value
        var offset = 0
        while offset < frame.count {
            let written = frame.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, frame.count - offset, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw RawError("send failed: errno \(errno)") }
            offset += written
        }
    }

    /// Reads the client's frames until `done(type, flags, stream)` holds for one.
    func readUntil(_ done: (UInt8, UInt8, UInt32) -> Bool) throws {
        for _ in 0..<1_000 {
            let header = try read(count: 9)
            let length = Int(header[0]) << 16 | Int(header[1]) << 8 | Int(header[2])
            let stream = (UInt32(header[5]) << 24 | UInt32(header[6]) << 16 | UInt32(header[7]) << 8 | UInt32(header[8])) & 0x7fff_ffff
            _ = try read(count: length)
            if done(header[3], header[4], stream) { return }
        }
        throw RawError("the awaited frame did not come")
    }

    private func read(count: Int) throws -> [UInt8] {
        let fd = connection.value
        var bytes = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let received = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + offset, count - offset, 0) }
            guard received > 0 else { throw RawError(received == 0 ? "the client closed" : "recv failed: errno \(errno)") }
            offset += received
        }
        return bytes
    }

    /// Closes the accepted connection (the client sees the peer close).
    func closeConnection() {
        let fd = connection.withLock { fd in
            defer { fd = -1 }
            return fd
        }
        if fd >= 0 { Glibc.close(fd) }
    }

    func close() {
        closeConnection()
        Glibc.close(listener)
    }
}
