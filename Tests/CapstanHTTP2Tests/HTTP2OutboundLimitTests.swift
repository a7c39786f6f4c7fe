@testable import CapstanHTTP2
import CapstanRPC
import CapstanTestSupport
import Glibc
import Synchronization
import Testing

/// The bound on response bytes a server holds for clients that do not take them
/// (`connectionOutboundLimit`, `loopOutboundLimit`): past it, calls fail RESOURCE_EXHAUSTED instead
/// of queuing their responses, and clients that read what they get are still served.
@Suite("HTTP/2 server: response memory held for clients that do not read", .timeLimit(.minutes(1)))
struct HTTP2OutboundLimitTests {
    /// Unary, answered on the loop by the core's immediate path: a Blob of the requested size.
    static let sized = MethodDescriptor<Text, Blob>(service: "capstan.test.Limits", method: "Sized", kind: .unary)
    static let sizedPath = "/capstan.test.Limits/Sized"

    static func routes(_ router: inout RPCRouter) {
        Echo.register(in: &router)
        router.unaryEncoded(
            sized,
            immediately: { request, _ in EncodedMessage(Blob(count: Int(request.value) ?? 0)) },
            { request, _ in EncodedMessage(Blob(count: Int(request.value) ?? 0)) })
    }

    /// The grpc-status of each stream in `ids` whose response ended, by stream.
    private static func statuses(_ raw: RawHTTP2Client, _ ids: [Int32]) -> [Int32: String] {
        var result: [Int32: String] = [:]
        for id in ids { if let status = raw.responses[id]?.value("grpc-status") { result[id] = status } }
        return result
    }

    @Test("a connection whose client takes nothing is refused responses past its limit, through the general and the immediate path, and observers count them RESOURCE_EXHAUSTED")
    func connectionLimit() async throws {
        var server = HTTP2ServerTransport.Configuration()
        server.connectionOutboundLimit = 300 * 1024
        server.sendStallTimeout = nil
        let recorder = FinishedCallRecorder()
        let metrics = RPCMetrics()
        try await withHTTP2Server(server: server, observers: [recorder, metrics.observer], routes: Self.routes) { harness in
            let port = harness.server.localPort
            let size = 128 * 1024
            try await runBlocking {
                let raw = try RawHTTP2Client(port: port)
                defer { raw.close() }
                try raw.startSession(initialWindowSize: 0)
                let body = [UInt8](repeating: 7, count: size)
                let blob = grpcPrefix(length: body.count) + body
                let sizeText = Array(String(size).utf8)
                // A general-path call, an immediate one, and again, one after the other: each answer
                // is 128 KiB. Queued answers show their HEADERS; refused ones end trailers-only.
                var ids: [Int32] = []
                for index in 0..<4 {
                    ids.append(index % 2 == 0
                        ? try raw.request(path: "/capstan.test.Echo/Blob", body: blob)
                        : try raw.request(path: Self.sizedPath, body: grpcPrefix(length: sizeText.count) + sizeText))
                    try raw.run { client in client.responses[ids[index]]?.headers.isEmpty == false }
                }
                let ended = Self.statuses(raw, ids)
                #expect(ended.count == 2, "\(ended)")
                #expect(ended.values.allSatisfy { $0 == "8" })
                for id in ended.keys {
                    let message = GRPCStatusMessage.decode(raw.responses[id]?.value("grpc-message") ?? "")
                    #expect(message.contains("per connection"), "\(message)")
                    #expect(raw.responses[id]?.data.isEmpty == true)
                }
                // 2 × 128 KiB fit in 300 KiB; the third would not, nor the fourth.
                #expect(Set(ended.keys) == [ids[2], ids[3]])
            }
            let calls = await recorder.calls(count: 4)
            #expect(calls.filter { $0.status.code == .resourceExhausted }.count == 2)
            #expect(calls.filter { $0.status.code == .ok }.count == 2)
            let sent = calls.filter { $0.status.code == .resourceExhausted }.map(\.messagesSent)
            #expect(sent == [0, 0])
            // Another connection, whose client reads, is served after.
            let blob = try await harness.client.unary(Echo.blob, Blob(count: size))
            #expect(blob.bytes.count == size)
        }
    }

    @Test("past the loop's limit, connections holding at least the share floor are refused, while a client that reads is served")
    func loopLimit() async throws {
        var server = HTTP2ServerTransport.Configuration()
        server.connectionOutboundLimit = nil
        server.loopOutboundLimit = 400 * 1024
        server.outboundShareFloor = 100 * 1024
        server.sendStallTimeout = nil
        let size = 128 * 1024
        // One loop: every connection counts against the same limit.
        try await withHTTP2Server(threads: 1, server: server, routes: Self.routes) { harness in
            let port = harness.server.localPort
            let request = grpcPrefix(length: String(size).utf8.count) + Array(String(size).utf8)
            let (first, second) = try await runBlocking { () throws -> ([String?], [String?]) in
                let a = try RawHTTP2Client(port: port)
                defer { a.close() }
                let b = try RawHTTP2Client(port: port)
                defer { b.close() }
                try a.startSession(initialWindowSize: 0)
                try b.startSession(initialWindowSize: 0)
                // a: 3 × 128 KiB = 384 KiB, all under 400 KiB.
                var ids: [Int32] = []
                for _ in 0..<3 {
                    ids.append(try a.request(path: Self.sizedPath, body: request))
                    try a.run { client in client.responses[ids.last!]?.headers.isEmpty == false }
                }
                // b's first: it holds nothing yet, so it may queue one (512 KiB now); its second not.
                var bIDs: [Int32] = []
                for _ in 0..<2 {
                    bIDs.append(try b.request(path: Self.sizedPath, body: request))
                    try b.run { client in client.responses[bIDs.last!]?.headers.isEmpty == false }
                }
                // a holds 384 KiB, over the floor: refused too.
                ids.append(try a.request(path: Self.sizedPath, body: request))
                try a.run { client in client.responses[ids.last!]?.headers.isEmpty == false }
                return (ids.map { a.responses[$0]?.value("grpc-status") }, bIDs.map { b.responses[$0]?.value("grpc-status") })
            }
            #expect(first == [nil, nil, nil, "8"])
            #expect(second == [nil, "8"])
            // A client that reads holds nothing queued between its calls: served.
            let blob = try await harness.client.unary(Echo.blob, Blob(count: size))
            #expect(blob.bytes.count == size)
        }
    }

    @Test("a server-streaming call whose writes would take the connection past its limit ends RESOURCE_EXHAUSTED, and the connection's count goes back to zero once its streams close")
    func streamingLimitAndCount() async throws {
        var server = HTTP2ServerTransport.Configuration()
        server.connectionOutboundLimit = 300 * 1024
        server.sendStallTimeout = nil
        let recorder = FinishedCallRecorder()
        try await withHTTP2Server(server: server, observers: [recorder], routes: Self.routes) { harness in
            let port = harness.server.localPort
            let transport = harness.server
            try await runBlocking {
                let raw = try RawHTTP2Client(port: port)
                defer { raw.close() }
                try raw.startSession(initialWindowSize: 0)
                // Each stream queues one 64 KiB message (past its 64 KiB mark), then waits.
                let count = Array("50:65536".utf8)
                var ids: [Int32] = []
                for _ in 0..<5 {
                    ids.append(try raw.request(path: "/capstan.test.Echo/Blobs", body: grpcPrefix(length: count.count) + count))
                }
                // Four streams queue 256 KiB; the fifth's write would pass 300 KiB. Its trailers
                // would wait behind data the client does not take: it is reset instead, with
                // ENHANCE_YOUR_CALM (RESOURCE_EXHAUSTED to gRPC clients).
                try raw.run { client in ids.contains { client.responses[$0]?.resetCode != nil } }
                #expect(ids.compactMap { raw.responses[$0]?.resetCode } == [0xb])
            }
            let calls = await recorder.calls(count: 1)
            #expect(calls.first?.status.code == .resourceExhausted)
            #expect(calls.first?.status.message.contains("per connection") == true)
            // The client is gone: every stream closed, and no byte stays counted.
            for _ in 0..<500 {
                if transport.connectionCount == 0 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            let queued = await Self.queuedOnLoops(transport)
            #expect(queued == 0)
        }
    }

    @Test("streams whose client reads are not refused past the limits: each holds at most one write beyond its high-water mark (a burst of watch events to many watchers)")
    func readingStreamsPassTheLimits() async throws {
        var server = HTTP2ServerTransport.Configuration()
        // Room for every stream's first message (20 × 16 KiB), not for what 20 streams hold at
        // once while their client reads (up to their 64 KiB marks and a message more each).
        server.connectionOutboundLimit = 400 * 1024
        server.loopOutboundLimit = 400 * 1024
        server.outboundShareFloor = 0
        try await withHTTP2Server(server: server, routes: Self.routes) { harness in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        var count = 0
                        for try await _ in try await harness.client.serverStreaming(Echo.blobs, Text("100:16384")) { count += 1 }
                        return count
                    }
                }
                var counts: [Int] = []
                for try await count in group { counts.append(count) }
                #expect(counts == Array(repeating: 100, count: 20))
            }
        }
    }

    /// The bytes every loop's ledger counts (read on the loops).
    private static func queuedOnLoops(_ transport: HTTP2ServerTransport) async -> Int {
        var total = 0
        for (loop, ledger) in zip(transport.group.loops, transport.loopByteLedgers) {
            total += await withCheckedContinuation { (continuation: CheckedContinuation<Int, Never>) in
                loop.execute { continuation.resume(returning: ledger.queued) }
            }
        }
        return total
    }
}
