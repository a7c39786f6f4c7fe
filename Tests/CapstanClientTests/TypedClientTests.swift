import CapstanAPI
import CapstanAPIServer
import CapstanAPIServerHost
import CapstanClient
import CapstanRPC
import CapstanTestSupport
import Testing

@Suite("CapstanClient typed clients over HTTP/2", .timeLimit(.minutes(3)))
struct TypedClientTests {
    @Test("pods: create, get, list, update, status, bind, delete; errors carry the server's codes")
    func pods() async throws {
        try await withServerAndClient { _, client in
            _ = try await client.minions.create(Make.minion("m1"))
            let created = try await client.pods.create(Make.pod("web", labels: ["app": "web"]))
            #expect(created.metadata.namespace == "default")
            #expect(created.metadata.resourceVersion > 0)
            #expect(!created.metadata.uid.isEmpty)

            var fetched = try await client.pods.get(namespace: "default", name: "web")
            #expect(fetched == created)
            #expect(try await client.pods.get(name: "web") == created)

            fetched.metadata.labels["tier"] = "front"
            let updated = try await client.pods.update(fetched)
            #expect(updated.metadata.labels == ["app": "web", "tier": "front"])
            #expect(updated.metadata.resourceVersion > created.metadata.resourceVersion)

            // A stale resource version is a conflict.
            var stale = created
            stale.metadata.labels = ["app": "stale"]
            #expect(await rpcError { _ = try await client.pods.update(stale) }.code == .aborted)

            var status = updated
            status.status.phase = .running
            let withStatus = try await client.pods.updateStatus(status)
            #expect(withStatus.status.phase == .running)

            let bound = try await client.pods.bind(name: "web", host: "m1")
            #expect(bound.spec.host == "m1")
            #expect(await rpcError { _ = try await client.bindings.bind(pod: "web", host: "m1") }.code == .failedPrecondition)

            #expect(await rpcError { _ = try await client.pods.get(name: "nope") }.code == .notFound)
            #expect(await rpcError { _ = try await client.pods.create(Make.pod("web")) }.code == .alreadyExists)
            #expect(await rpcError { _ = try await client.pods.create(Make.pod("Bad_Name")) }.code == .invalidArgument)

            let deleted = try await client.pods.delete(name: "web")
            #expect(deleted.metadata.name == "web")
            #expect(deleted.metadata.resourceVersion > bound.metadata.resourceVersion)
            #expect(await rpcError { _ = try await client.pods.get(name: "web") }.code == .notFound)
        }
    }

    @Test("a string with a NUL byte is refused before it is sent, not cut")
    func nulInAString() async throws {
        try await withServerAndClient { _, client in
            var pod = Make.pod("nul")
            pod.metadata.annotations = ["note": "a\u{0}b"]
            let error = await rpcError { _ = try await client.pods.create(pod) }
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("/capstan.v1.Pods/Create cannot be sent"), "\(error)")
            #expect(error.message.contains("NUL"), "\(error)")
            #expect(await rpcError { _ = try await client.pods.get(name: "nul") }.code == .notFound)
        }
    }

    @Test("every other kind: minions, services, controllers, endpoints")
    func otherKinds() async throws {
        try await withServerAndClient { _, client in
            let minion = try await client.minions.create(Make.minion("m1"))
            #expect(try await client.minions.get(name: "m1") == minion)
            var status = MinionStatus()
            status.machineInfo.hostname = "m1.local"
            #expect(try await client.minions.reportStatus(name: "m1", status: status).status.machineInfo.hostname == "m1.local")
            #expect(try await client.minions.list().items.map(\.metadata.name) == ["m1"])
            _ = try await client.minions.delete(name: "m1")
            #expect(try await client.minions.list().items.isEmpty)

            var service = try await client.services.create(Make.service("front", port: 8080))
            service.spec.selector = ["app": "front", "tier": "web"]
            service = try await client.services.update(service)
            #expect(try await client.services.get(name: "front").spec.selector == ["app": "front", "tier": "web"])
            _ = try await client.services.delete(name: "front", precondition: service.metadata.resourceVersion)

            var controller = try await client.replicationControllers.create(Make.controller("rc", replicas: 2))
            controller.spec.replicas = 5
            controller = try await client.replicationControllers.update(controller)
            #expect(try await client.replicationControllers.get(name: "rc").spec.replicas == 5)
            // A delete whose precondition is stale is refused.
            #expect(await rpcError { _ = try await client.replicationControllers.delete(name: "rc", precondition: 1) }.code == .aborted)
            _ = try await client.replicationControllers.delete(name: "rc")

            var endpoints = try await client.endpoints.create(Make.endpoints("front", ["10.0.0.1:80"]))
            endpoints.endpoints.append("10.0.0.2:80")
            _ = try await client.endpoints.update(endpoints)
            #expect(try await client.endpoints.get(name: "front").endpoints == ["10.0.0.1:80", "10.0.0.2:80"])
        }
    }

    @Test("list reads every page at the first page's revision; list(ListRequest) returns one page")
    func paging() async throws {
        try await withServerAndClient { _, client in
            for index in 0..<7 { _ = try await client.pods.create(Make.pod("p\(index)", namespace: index < 5 ? "a" : "b")) }
            var request = ListRequest()
            request.limit = 3
            let first = try await client.pods.list(request)
            #expect(first.items.count == 3)
            #expect(!first.continueToken.isEmpty)

            let all = try await client.pods.list(pageSize: 2)
            #expect(all.items.map(\.metadata.name) == (0..<7).map { "p\($0)" })
            #expect(all.resourceVersion == first.resourceVersion)
            #expect(try await client.pods.list(namespace: "b").items.map(\.metadata.name) == ["p5", "p6"])
            #expect(try await client.pods.list(labelSelector: "app=none").items.isEmpty)
            #expect(await rpcError { _ = try await client.pods.list(labelSelector: "a in (") }.code == .invalidArgument)
        }
    }

    @Test("watch streams typed events from a revision")
    func watch() async throws {
        try await withServerAndClient { _, client in
            let start = try await client.pods.list().resourceVersion
            let stream = try await client.pods.watch(resourceVersion: start)
            let created = try await client.pods.create(Make.pod("w"))
            _ = try await client.pods.delete(name: "w")
            let events = try await bounded("two watch events") {
                var seen: [WatchEvent<Pod>] = []
                for try await event in stream {
                    seen.append(event)
                    if seen.count == 2 { break }
                }
                return seen
            }
            stream.cancel()
            #expect(events.map(\.type) == [.added, .deleted])
            #expect(events.first?.object == created)
            #expect(events.last?.object.metadata.resourceVersion ?? 0 > created.metadata.resourceVersion)
        }
    }

    @Test("a bearer token authenticates every call; without it the server answers UNAUTHENTICATED")
    func token() async throws {
        let authenticator = TokenAuthenticator(tokens: ["s3cret": Identity(name: "admin", access: .readWrite)])
        try await withServerAndClient(interceptors: [authenticator], client: clientOptions { $0.token = "s3cret" }) { server, client in
            _ = try await client.pods.create(Make.pod("p"))
            #expect(try await client.pods.list().items.count == 1)
            let anonymous = try CapstanClient(servers: [server.address], options: clientOptions())
            #expect(await rpcError { _ = try await anonymous.pods.get(name: "p") }.code == .unauthenticated)
            let wrong = try CapstanClient(servers: [server.address], options: clientOptions { $0.token = "nope" })
            #expect(await rpcError { _ = try await wrong.pods.list() }.code == .unauthenticated)
            // A token a header cannot carry fails the call before it is sent, saying why (sent,
            // the server would drop the field and answer UNAUTHENTICATED).
            let unsendable = try CapstanClient(servers: [server.address], options: clientOptions { $0.token = "s3cret\n" })
            let refused = await rpcError { _ = try await unsendable.pods.list() }
            #expect(refused.code == .invalidArgument)
            #expect(refused.message.contains("the client's token cannot be sent"), "\(refused)")
            await anonymous.close()
            await wrong.close()
            await unsendable.close()
        }
    }

    @Test("bad server lists are refused with a clear error")
    func badServers() throws {
        #expect(throws: (any Error).self) { try CapstanClient(servers: []) }
        #expect(throws: (any Error).self) { try CapstanClient(servers: ["127.0.0.1"]) }
        #expect(throws: (any Error).self) { try CapstanClient(servers: ["not a host:80"]) }
        #expect(throws: (any Error).self) { try CapstanClient(servers: ["127.0.0.1:70000"]) }
    }
}
