@testable import CapstanHTTP2
import CapstanRPC
import CapstanTestSupport
import Glibc
import Synchronization
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

    /// A server may send SETTINGS again at any time. One that lowers its limit below the streams
    /// open keeps them; a call past the new limit must start at once on another connection, not
    /// wait in nghttp2's queue behind them (behind watches, for ever).
    @Test("a server that lowers its limit below the open streams: a later call starts at once on another connection")
    func loweredLimit() async throws {
        try await Self.withRawPeer { peer, transport, _ in
            async let first = Self.open(on: transport)
            try await runBlocking {
                try peer.accept()
                try peer.handshake(maxConcurrentStreams: 4)
            }
            let opened = [try await first, try await Self.open(on: transport)]
            try await runBlocking {
                try peer.readHeaders(of: [1, 3])
                // Down to the two open; the client acknowledges once it applied it.
                try peer.send(type: RawPeer.settings, payload: RawPeer.maxConcurrentStreams(2))
                try peer.readUntil { type, flags, _ in type == RawPeer.settings && flags & 1 != 0 }
            }
            async let third = Self.open(on: transport)
            let second = try await runBlocking {
                let second = try peer.acceptAnother()
                try second.handshake(maxConcurrentStreams: 4)
                try second.readHeaders(of: [1])
                return second
            }
            let later = try await third
            #expect(transport.connectionCount == 2)
            #expect(transport.streamCounts == (reserved: 3, admitted: 3))
            // Nothing more went to the first connection.
            let headersMeanwhile = try await runBlocking { try peer.ping { type, _ in type == RawPeer.headers } }
            #expect(headersMeanwhile == 0)
            peer.closeConnection()
            second.close()
            for stream in opened + [later] { _ = try await Self.status(of: stream) }
            #expect(await eventually { transport.streamCounts == (reserved: 0, admitted: 0) })
        }
    }

    /// A server that raises its limit later: calls after it share the connection up to the new
    /// limit, and only a call past that opens another.
    @Test("a server that raises its limit: later calls use the same connection up to the new limit")
    func raisedLimit() async throws {
        try await Self.withRawPeer { peer, transport, _ in
            async let first = Self.open(on: transport)
            try await runBlocking {
                try peer.accept()
                try peer.handshake(maxConcurrentStreams: 1)
            }
            var streams = [try await first]
            try await runBlocking {
                try peer.readHeaders(of: [1])
                try peer.send(type: RawPeer.settings, payload: RawPeer.maxConcurrentStreams(3))
                try peer.readUntil { type, flags, _ in type == RawPeer.settings && flags & 1 != 0 }
            }
            // A task: a call sent to another connection would wait for it, which the peer does
            // not answer yet; cancelled if the HEADERS do not come.
            let more = Task { [try await Self.open(on: transport), try await Self.open(on: transport)] }
            defer { more.cancel() }
            try await runBlocking { try peer.readHeaders(of: [3, 5]) }
            streams += try await more.value
            #expect(transport.connectionCount == 1)
            #expect(transport.streamCounts == (reserved: 3, admitted: 3))
            // Past the new limit: another connection.
            async let fourth = Self.open(on: transport)
            let second = try await runBlocking {
                let second = try peer.acceptAnother()
                try second.handshake(maxConcurrentStreams: 3)
                try second.readHeaders(of: [1])
                return second
            }
            streams.append(try await fourth)
            #expect(transport.connectionCount == 2)
            peer.closeConnection()
            second.close()
            for stream in streams { _ = try await Self.status(of: stream) }
            #expect(await eventually { transport.streamCounts == (reserved: 0, admitted: 0) })
        }
    }

    /// Streams admitted under the server's old limit but submitted after it lowered it wait in
    /// nghttp2's queue; when the connection then dies their HEADERS never left.
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
    /// lowered to one (`queued`: submitted, their HEADERS not sent). The pool follows the
    /// server's limit, so the two must be admitted before the client reads the new SETTINGS and
    /// submitted after: the peer sends them while the client's loop is held, the calls are
    /// admitted meanwhile and their submission queued on the loop, which once released reads
    /// the SETTINGS (I/O first in a tick) before it runs that work.
    static func withQueuedStreams(
        _ body: (RawPeer, _ sent: ClientTransportStream, _ queued: [ClientTransportStream]) async throws -> Void
    ) async throws {
        try await withRawPeer { peer, transport, group in
            async let first = open(on: transport)
            try await runBlocking {
                try peer.accept()
                try peer.handshake(maxConcurrentStreams: 100)
            }
            let sent = try await first
            try await runBlocking { try peer.readHeaders(of: [1]) }
            let hold = await LoopHold(group.next())
            defer { hold.release() }
            try #require(hold.holding)
            // Down to one stream (the one open): waiting in the client's receive buffer, read in
            // the first tick after the loop is released.
            try await runBlocking {
                try peer.send(type: RawPeer.settings, payload: RawPeer.maxConcurrentStreams(1))
                try peer.awaitDelivery()
            }
            let queued = [try await open(on: transport), try await open(on: transport)]
            #expect(transport.streamCounts == (reserved: 3, admitted: 3))
            hold.release()
            // Both streams were handed to the loop before the PING left, so they were submitted by
            // the time it is answered; their HEADERS must not have come.
            let headersMeanwhile = try await runBlocking { try peer.ping { type, _ in type == RawPeer.headers } }
            #expect(headersMeanwhile == 0)
            try await body(peer, sent, queued)
        }
    }

    /// Runs `body` with a raw peer and a client transport targeting it, on one loop (`group`);
    /// then closes the peer, which ends whatever the client still has there, and the client.
    static func withRawPeer(
        _ body: (RawPeer, HTTP2ClientTransport, EventLoopGroup) async throws -> Void
    ) async throws {
        let peer = try RawPeer()
        let group = try EventLoopGroup(threads: 1)
        let transport = try HTTP2ClientTransport(targets: ["127.0.0.1:\(peer.port)"], group: group)
        do {
            try await body(peer, transport, group)
        } catch {
            Issue.record(error)
        }
        peer.close()
        await transport.close()
        await group.shutdown()
    }

    /// Opens a call (without deadline) on `transport`.
    static func open(on transport: HTTP2ClientTransport) async throws -> ClientTransportStream {
        try await transport.openStream(path: Echo.chat.path, metadata: Metadata(), deadline: nil)
    }

    static func status(of stream: ClientTransportStream) async throws -> (status: RPCStatus, trailers: Metadata) {
        for try await part in stream.responses {
            if case .status(let status, _, let trailers) = part { return (status, trailers) }
        }
        throw RawError("the stream ended without a status")
    }
}

/// The server end of a client's HTTP/2 connections, driven frame by frame by a test on blocking
/// sockets (run it inside `runBlocking`): it writes the frames it is told to and reads the
/// client's frames by their headers. `send`, `readUntil` and the like act on the first
/// connection (`accept`); `acceptAnother` returns each further one. Every wait is bounded.
final class RawPeer: Sendable {
    static let headers: UInt8 = 0x1
    static let settings: UInt8 = 0x4
    static let ping: UInt8 = 0x6
    static let goAway: UInt8 = 0x7

    private let listener: Int32
    private let first = Connection()
    /// The connections after the first, closed with the peer.
    private let others = Locked<[Connection]>([])
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

    /// Accepts the client's first connection (waiting at most 10 s) and reads its preface.
    func accept() throws {
        try first.accept(from: listener)
    }

    /// Accepts another connection of the client (waiting at most 10 s) and reads its preface.
    func acceptAnother() throws -> Connection {
        let connection = Connection()
        others.withLock { $0.append(connection) }
        try connection.accept(from: listener)
        return connection
    }

    func handshake(maxConcurrentStreams: UInt32) throws {
        try first.handshake(maxConcurrentStreams: maxConcurrentStreams)
    }

    func send(type: UInt8, flags: UInt8 = 0, stream: UInt32 = 0, payload: [UInt8] = []) throws {
        try first.send(type: type, flags: flags, stream: stream, payload: payload)
    }

    func readUntil(_ done: (UInt8, UInt8, UInt32) -> Bool) throws {
        try first.readUntil(done)
    }

    func awaitDelivery() throws {
        try first.awaitDelivery()
    }

    func readHeaders(of streams: Set<UInt32>) throws {
        try first.readHeaders(of: streams)
    }

    func ping(counting counted: (UInt8, UInt32) -> Bool) throws -> Int {
        try first.ping(counting: counted)
    }

    /// Closes the first connection (the client sees the peer close).
    func closeConnection() {
        first.close()
    }

    /// Closes every connection and the listener (connections not accepted yet are reset).
    func close() {
        first.close()
        for connection in others.value { connection.close() }
        Glibc.close(listener)
    }

    /// One connection accepted from the client.
    final class Connection: Sendable {
        private let fd = Locked<Int32>(-1)

        fileprivate func accept(from listener: Int32) throws {
            var poll = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard Glibc.poll(&poll, 1, 10_000) == 1 else { throw RawError("no connection within 10 s") }
            let accepted = Glibc.accept(listener, nil, nil)
            guard accepted >= 0 else { throw RawError("accept failed: errno \(errno)") }
            RawHTTP2Client.setReceiveTimeout(accepted, seconds: 10)
            fd.withLock { $0 = accepted }
            let preface = try read(count: RawHTTP2Client.preface.count)
            guard preface == RawHTTP2Client.preface else { throw RawError("not an HTTP/2 preface") }
        }

        /// Reads the client's SETTINGS, answers with SETTINGS_MAX_CONCURRENT_STREAMS =
        /// `maxConcurrentStreams` and the acknowledgement, and reads the client's (which comes
        /// before any stream's HEADERS: the client is ready only once it read the SETTINGS).
        func handshake(maxConcurrentStreams: UInt32) throws {
            try readUntil { type, flags, _ in type == RawPeer.settings && flags & 1 == 0 }
            try send(type: RawPeer.settings, payload: RawPeer.maxConcurrentStreams(maxConcurrentStreams))
            try send(type: RawPeer.settings, flags: 1)
            try readUntil { type, flags, _ in type == RawPeer.settings && flags & 1 != 0 }
        }

        func send(type: UInt8, flags: UInt8 = 0, stream: UInt32 = 0, payload: [UInt8] = []) throws {
            let length = payload.count
            let frame = [UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), type, flags,
                         UInt8(stream >> 24 & 0x7f), UInt8(stream >> 16 & 0xff), UInt8(stream >> 8 & 0xff), UInt8(stream & 0xff)]
                + payload
            let fd = fd.value
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

        /// Waits (at most 2 s) until the client's kernel acknowledged all that was sent: then it
        /// is in the client's receive buffer, whatever the client's loop is doing.
        func awaitDelivery() throws {
            let fd = fd.value
            for _ in 0..<2_000 {
                var unacknowledged: Int32 = 0
                guard ioctl(fd, UInt(TIOCOUTQ), &unacknowledged) == 0 else { throw RawError("ioctl failed: errno \(errno)") }
                if unacknowledged == 0 { return }
                usleep(1_000)
            }
            throw RawError("the client's kernel did not acknowledge within 2 s")
        }

        /// Reads the client's frames until HEADERS came on each of `streams`.
        func readHeaders(of streams: Set<UInt32>) throws {
            var missing = streams
            try readUntil { type, _, stream in
                if type == RawPeer.headers { missing.remove(stream) }
                return missing.isEmpty
            }
        }

        /// Sends a PING and reads the client's frames up to its acknowledgement; returns how many
        /// of them `counted(type, stream)` selects. Work handed to the client's loop before the
        /// PING left was done by the time it is answered.
        func ping(counting counted: (UInt8, UInt32) -> Bool) throws -> Int {
            try send(type: RawPeer.ping, payload: [UInt8](repeating: 7, count: 8))
            var count = 0
            try readUntil { type, flags, stream in
                if type == RawPeer.ping, flags & 1 != 0 { return true }
                if counted(type, stream) { count += 1 }
                return false
            }
            return count
        }

        private func read(count: Int) throws -> [UInt8] {
            let fd = fd.value
            var bytes = [UInt8](repeating: 0, count: count)
            var offset = 0
            while offset < count {
                let received = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + offset, count - offset, 0) }
                guard received > 0 else {
                    if received == 0 { throw RawError("the client closed") }
                    throw RawError(errno == EAGAIN ? "nothing came from the client within 10 s" : "recv failed: errno \(errno)")
                }
                offset += received
            }
            return bytes
        }

        /// Closes the connection (the client sees the peer close).
        func close() {
            let fd = fd.withLock { fd in
                defer { fd = -1 }
                return fd
            }
            if fd >= 0 { Glibc.close(fd) }
        }
    }
}

/// Holds an event loop: a closure on it waits until `release` (at most 10 s), so work handed to
/// the loop meanwhile and I/O that arrives wait too.
final class LoopHold: Sendable {
    private static let starting = 0, held = 1, released = 2
    private let state = Atomic<Int>(LoopHold.starting)

    /// Returns once the loop is held, or after 10 s without (then `holding` is false).
    init(_ loop: EventLoop) async {
        loop.execute { [self] in
            guard state.compareExchange(expected: Self.starting, desired: Self.held, ordering: .acquiringAndReleasing).exchanged
            else { return }
            let until = ContinuousClock.now.advanced(by: .seconds(10))
            while state.load(ordering: .acquiring) != Self.released, ContinuousClock.now < until { usleep(1_000) }
        }
        _ = await eventually { state.load(ordering: .acquiring) != Self.starting }
    }

    var holding: Bool { state.load(ordering: .acquiring) == Self.held }

    func release() {
        state.store(Self.released, ordering: .releasing)
    }
}
