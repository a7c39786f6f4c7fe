import CapstanAPI
import CapstanAPIServerHost
import CapstanClient
import CapstanRPC
import CapstanTestSupport
import Synchronization
import Testing

/// Records the `ReadAfter` revision of every call, by method path ("" when the call had none).
final class ReadAfterRecorder: ServerInterceptor {
    private let seen = Mutex<[(path: String, value: String)]>([])

    func values(_ path: String) -> [String] { seen.withLock { $0.filter { $0.path == path }.map(\.value) } }

    func intercept(_ context: ServerContext, next: @Sendable (ServerContext) async throws -> Void) async throws {
        let value = context.metadata.first(ReadAfter.key) ?? ""
        seen.withLock { $0.append((context.method.path, value)) }
        try await next(context)
    }
}

/// A client's reads carry the newest revision it saw, so another API server answers them only
/// once it caught up (read-your-writes across a failover).
@Suite("Client: read after what it saw")
struct ReadAfterClientTests {
    static let get = Pods.Method.get.path
    static let list = Pods.Method.list.path
    static let watch = Pods.Method.watch.path
    static let create = Pods.Method.create.path

    @Test("reads carry the newest revision written or read; writes carry none")
    func carried() async throws {
        let recorder = ReadAfterRecorder()
        try await withServerAndClient(interceptors: [recorder]) { _, client in
            #expect(try await client.pods.list().items.isEmpty)
            let first = try await client.pods.create(Make.pod("a"))
            let second = try await client.pods.create(Make.pod("b"))
            _ = try await client.pods.get(name: "a")
            let listed = try await client.pods.list()
            let stream = try await client.pods.watch(resourceVersion: listed.resourceVersion)
            // The watch's first event proves the server took the call before it is cancelled.
            let third = try await client.pods.create(Make.pod("c"))
            var events = stream.makeAsyncIterator()
            #expect(try await events.next()?.object.metadata.resourceVersion == third.metadata.resourceVersion)
            stream.cancel()
            _ = try await client.minions.create(Make.minion("m"))

            // The first list had seen nothing yet; later reads name the newest revision so far.
            #expect(recorder.values(Self.list) == ["", String(second.metadata.resourceVersion)])
            #expect(recorder.values(Self.get) == [String(second.metadata.resourceVersion)])
            #expect(
                recorder.values(Self.watch) == [String(max(listed.resourceVersion, second.metadata.resourceVersion))])
            #expect(recorder.values(Self.create) == ["", "", ""])
            #expect(first.metadata.resourceVersion < second.metadata.resourceVersion)
        }
    }

    @Test("a watch event counts as seen: later reads carry its revision")
    func watchEventsSeen() async throws {
        let recorder = ReadAfterRecorder()
        try await withServerAndClient(interceptors: [recorder]) { server, watcher in
            let writer = try CapstanClient(servers: [server.address], options: clientOptions())
            let listed = try await watcher.pods.list()
            let stream = try await watcher.pods.watch(resourceVersion: listed.resourceVersion)
            var events = stream.makeAsyncIterator()
            // The watcher writes nothing: only the events tell it of the other client's writes.
            let created = try await writer.pods.create(Make.pod("w"))
            var updated = created
            updated.metadata.labels["seen"] = "yes"
            let changed = try await writer.pods.update(updated)
            #expect(try await events.next()?.object.metadata.resourceVersion == created.metadata.resourceVersion)
            _ = try await watcher.pods.get(name: "w")
            #expect(try await events.next()?.object.metadata.resourceVersion == changed.metadata.resourceVersion)
            _ = try await watcher.pods.list()
            stream.cancel()
            await writer.close()

            #expect(recorder.values(Self.get) == [String(created.metadata.resourceVersion)])
            #expect(recorder.values(Self.list) == ["", String(changed.metadata.resourceVersion)])
        }
    }

    @Test("after the store was replaced, the client forgets the revisions it saw and reads again")
    func storeReplaced() async throws {
        try await withTemporaryDirectory { old in
            try await withTemporaryDirectory { new in
                let port = try restartablePort()
                var server = try await startServer(old, port: port)
                let client = try CapstanClient(servers: [server.address], options: clientOptions())
                for index in 0..<5 { _ = try await client.pods.create(Make.pod("p\(index)")) }
                try await stopServer(server)

                // A new, empty store behind the same address: its revision is behind the client's.
                let recorder = ReadAfterRecorder()
                server = try await startServer(new, port: port, interceptors: [recorder])
                #expect(try await client.pods.list().items.isEmpty)
                let created = try await client.pods.create(Make.pod("fresh"))
                #expect(try await client.pods.get(name: "fresh") == created)
                let values = recorder.values(Self.list) + recorder.values(Self.get)
                #expect(values == ["5", "", String(created.metadata.resourceVersion)])
                await client.close()
                try await stopServer(server)
            }
        }
    }
}
