import CapstanAPI
@testable import CapstanRPC
import CapstanTestSupport
import CapstanWire
import Testing

/// `HealthService` over the in-process transport, through the generated typed client.
@Suite("Standard: health", .timeLimit(.minutes(1)))
struct StandardHealthTests {
    typealias ServingStatus = Grpc_Health_V1_HealthCheckResponse.ServingStatus

    static func request(_ service: String) -> Grpc_Health_V1_HealthCheckRequest {
        var request = Grpc_Health_V1_HealthCheckRequest()
        request.service = service
        return request
    }

    func withHealth<T: Sendable>(
        _ health: HealthService, bufferSize: Int = 16,
        _ body: @Sendable (Grpc_Health_V1_Health.Client) async throws -> T
    ) async throws -> T {
        try await withServer(bufferSize: bufferSize, routes: { health.register(on: &$0) }) { rpc, _ in
            try await body(Grpc_Health_V1_Health.Client(rpc))
        }
    }

    @Test("Check answers the server's and each set service's status, NOT_FOUND for others")
    func check() async throws {
        let health = HealthService()
        health.setStatus(.serving, for: "capstan.v1.Pods")
        try await withHealth(health) { (client) async throws in
            #expect(try await client.check(Self.request("")).status == .serving)
            #expect(try await client.check(Self.request("capstan.v1.Pods")).status == .serving)
            health.setStatus(.notServing, for: "capstan.v1.Pods")
            #expect(try await client.check(Self.request("capstan.v1.Pods")).status == .notServing)
            #expect(try await client.check(Self.request("")).status == .serving)

            let error = await rpcError { _ = try await client.check(Self.request("capstan.v1.Nope")) }
            #expect(error?.code == .notFound)
        }
    }

    @Test("the server's initial status is configurable")
    func initialServerStatus() async throws {
        let health = HealthService(serverStatus: .notServing)
        #expect(health.status() == .notServing)
        #expect(health.status(for: "capstan.v1.Pods") == nil)
        try await withHealth(health) { (client) async throws in
            #expect(try await client.check(Self.request("")).status == .notServing)
        }
    }

    @Test("Watch sends SERVICE_UNKNOWN for an unknown service, then every change in order, no repeats")
    func watchDeliversChangesInOrder() async throws {
        let health = HealthService()
        try await withHealth(health) { client in
            let call = try await client.watch(Self.request("capstan.v1.Pods"))
            var responses = call.makeAsyncIterator()
            #expect(try await responses.next()?.status == .serviceUnknown)

            for status: ServingStatus in [.serving, .notServing, .serving, .unknown, .notServing] {
                health.setStatus(status, for: "capstan.v1.Pods")
                #expect(try await responses.next()?.status == status)
            }
            // Setting the current status again is not a change; the next message is the next change.
            health.setStatus(.notServing, for: "capstan.v1.Pods")
            health.setStatus(.notServing, for: "capstan.v1.Other")
            health.setStatus(.notServing, for: "")
            health.setStatus(.serving, for: "capstan.v1.Pods")
            #expect(try await responses.next()?.status == .serving)
            #expect(health.watchCount == 1)

            call.cancel()
            #expect(await eventually { health.watchCount == 0 })
        }
    }

    @Test("watchers of different services see only their own service's changes")
    func watchersAreIndependent() async throws {
        let health = HealthService()
        health.setStatus(.serving, for: "a")
        try await withHealth(health) { client in
            let callA = try await client.watch(Self.request("a"))
            let callServer = try await client.watch(Self.request(""))
            var a = callA.makeAsyncIterator()
            var server = callServer.makeAsyncIterator()
            #expect(try await a.next()?.status == .serving)
            #expect(try await server.next()?.status == .serving)

            health.setStatus(.notServing, for: "a")
            health.setStatus(.notServing, for: "")
            #expect(try await a.next()?.status == .notServing)
            #expect(try await server.next()?.status == .notServing)
            #expect(health.watchCount == 2)

            // Cancelling one watch removes only that watcher; the other keeps receiving.
            callA.cancel()
            #expect(await eventually { health.watchCount == 1 })
            health.setStatus(.serving, for: "")
            #expect(try await server.next()?.status == .serving)
            callServer.cancel()
            #expect(await eventually { health.watchCount == 0 })
        }
    }

    @Test("a watcher that does not read gets the latest status, not a backlog")
    func slowWatcherCoalesces() async throws {
        let health = HealthService()
        let changes = 200
        let received = try await withHealth(health, bufferSize: 2) { client in
            let call = try await client.watch(Self.request(""))
            var responses = call.makeAsyncIterator()
            #expect(try await responses.next()?.status == .serving)  // registered from here on

            // Nobody reads while the status flips back and forth, then settles on UNKNOWN.
            for index in 0..<changes {
                health.setStatus(index.isMultiple(of: 2) ? .notServing : .serving)
            }
            health.setStatus(.unknown)

            var received: [ServingStatus] = []
            while let response = try await responses.next() {
                received.append(response.status)
                if response.status == .unknown { break }
            }
            call.cancel()
            return received
        }
        #expect(received.last == .unknown)
        // At most what the transport buffers (2, plus one more as the back-pressure tests measure),
        // the write in progress and the one pending status; without coalescing it would be 201.
        #expect(received.count <= 6, "\(received.count) messages for \(changes + 1) changes")
        #expect(zip(received, received.dropFirst()).allSatisfy { $0 != $1 }, "\(received)")
    }

    @Test("shutdown sends NOT_SERVING, ends watches, and freezes every status")
    func shutdown() async throws {
        let health = HealthService()
        health.setStatus(.serving, for: "capstan.v1.Pods")
        try await withHealth(health) { client in
            let server = try await client.watch(Self.request(""))
            let unknown = try await client.watch(Self.request("capstan.v1.Nope"))
            var serverResponses = server.makeAsyncIterator()
            var unknownResponses = unknown.makeAsyncIterator()
            #expect(try await serverResponses.next()?.status == .serving)
            #expect(try await unknownResponses.next()?.status == .serviceUnknown)

            health.shutdown()
            #expect(health.isShutDown)
            // The final NOT_SERVING, then the end of the call (OK, so no error is thrown).
            #expect(try await serverResponses.next()?.status == .notServing)
            #expect(try await serverResponses.next() == nil)
            #expect(try await unknownResponses.next() == nil)
            #expect(health.watchCount == 0)

            #expect(try await client.check(Self.request("")).status == .notServing)
            #expect(try await client.check(Self.request("capstan.v1.Pods")).status == .notServing)
            health.setStatus(.serving)
            health.setStatus(.serving, for: "capstan.v1.Later")
            #expect(try await client.check(Self.request("")).status == .notServing)
            #expect(try await client.check(Self.request("capstan.v1.Later")).status == .notServing)

            // A watch started after shutdown reports the status and ends.
            var late: [ServingStatus] = []
            for try await response in try await client.watch(Self.request("capstan.v1.Pods")) {
                late.append(response.status)
            }
            #expect(late == [.notServing])
            health.shutdown()  // idempotent
        }
    }

    @Test("a status posted to a mailbox replaces the unread one")
    func mailboxKeepsLatest() async {
        let mailbox = LatestValueMailbox<Int>()
        mailbox.post(1)
        mailbox.post(2)
        mailbox.post(3)
        #expect(await mailbox.next() == 3)
        mailbox.post(4)
        mailbox.close()
        mailbox.post(5)  // ignored once closed
        #expect(await mailbox.next() == 4)
        #expect(await mailbox.next() == nil)
    }

    @Test("a waiting mailbox consumer is woken by a post, a close, or cancellation")
    func mailboxWakesWaiter() async {
        let mailbox = LatestValueMailbox<Int>()
        let first = Task { await mailbox.next() }
        mailbox.post(7)  // before or after `first` waits: either way it gets 7
        #expect(await first.value == 7)

        let closed = Task { await mailbox.next() }
        mailbox.close()
        #expect(await closed.value == nil)

        let other = LatestValueMailbox<Int>()
        let cancelled = Task { await other.next() }
        cancelled.cancel()
        #expect(await cancelled.value == nil)
    }
}
