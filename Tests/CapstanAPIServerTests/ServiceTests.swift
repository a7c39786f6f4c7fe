import CapstanAPI
@testable import CapstanAPIServer
import CapstanRPC
import CapstanStore
import Testing

@Suite("Services")
struct ServiceTests {
    @Test("defaults: protocol TCP, session affinity NONE, container port = port")
    func defaults() async throws {
        try await withAPIServer { api, _ in
            let created = try await api.services.create(Make.service("web", port: 80))
            #expect(created.spec.protocol == .tcp && created.spec.sessionAffinity == .none && created.spec.containerPort == 80)
        }
    }

    @Test("one service per (port, protocol): ALREADY_EXISTS names the holder")
    func portUniqueness() async throws {
        try await withAPIServer { api, _ in
            _ = try await api.services.create(Make.service("web", port: 80, namespace: "prod"))
            let taken = await rpcError { _ = try await api.services.create(Make.service("other", port: 80)) }
            #expect(taken.code == .alreadyExists)
            #expect(taken.message == "port 80/TCP is already used by service \"prod/web\"")
            let notFound = await rpcError { _ = try await api.services.get(Make.get("other")) }
            #expect(notFound.code == .notFound)
            let sameName = await rpcError { _ = try await api.services.create(Make.service("web", port: 80, namespace: "prod")) }
            #expect(sameName.code == .alreadyExists && sameName.message == "service \"prod/web\" already exists")
            _ = try await api.services.create(Make.service("dns", port: 80, protocol: .udp))
            _ = try await api.services.delete(Make.delete("web", namespace: "prod"))
            _ = try await api.services.create(Make.service("other", port: 80))
        }
    }

    @Test("Update moves the claim: the old port is freed, a taken port is refused")
    func updatePorts() async throws {
        try await withAPIServer { api, _ in
            let web = try await api.services.create(Make.service("web", port: 80))
            _ = try await api.services.create(Make.service("db", port: 5432))
            var toTaken = web
            toTaken.spec.port = 5432
            toTaken.spec.containerPort = 0
            let taken = await rpcError { _ = try await api.services.update(toTaken) }
            #expect(taken.code == .alreadyExists && taken.message.contains("\"default/db\""))
            #expect(try await api.services.get(Make.get("web")).spec.port == 80)
            var moved = web
            moved.spec.port = 8080
            moved.spec.containerPort = 0
            let updated = try await api.services.update(moved)
            #expect(updated.spec.port == 8080 && updated.spec.containerPort == 8080)
            _ = try await api.services.create(Make.service("new", port: 80))
            let relabeled = try await api.services.update({ var s = updated; s.metadata.labels = ["x": "y"]; return s }())
            #expect(relabeled.spec.port == 8080)
            #expect(await rpcError { _ = try await api.services.create(Make.service("late", port: 8080)) }.code == .alreadyExists)
        }
    }

    @Test("a claim left by a service that no longer exists is taken over")
    func staleClaim() async throws {
        try await withAPIServer { api, store in
            let web = try await api.services.create(Make.service("web", port: 80))
            // Remove the service behind the registry's back, as if a server died before releasing.
            _ = try await store.delete("/registry/services/default/web", expectedRevision: 0)
            let other = try await api.services.create(Make.service("other", port: 80))
            #expect(other.spec.port == 80 && other.metadata.uid != web.metadata.uid)
        }
    }

    /// A service write whose outcome was unknown (an etcd timeout) may have taken effect with its
    /// claim left unconfirmed: past the grace period that claim still holds while its service
    /// exists, and goes once the service does not.
    @Test("an unconfirmed claim past its grace period holds while its service exists")
    func unconfirmedClaimOfAnExistingService() async throws {
        try await withAPIServer(options: testOptions { $0.portClaimGracePeriod = .zero }) { api, store in
            let web = try await api.services.create(Make.service("web", port: 80))
            // The claim as the writer left it: claimed long ago, never confirmed.
            let key = "/registry/serviceports/tcp/80"
            let entry = try await store.get(key)
            let pending = "pending 0 default web \(web.metadata.uid)"
            _ = try await store.update(key, value: Array(pending.utf8), expectedRevision: entry.modRevision)
            let refused = await rpcError { _ = try await api.services.create(Make.service("other", port: 80)) }
            #expect(refused.code == .alreadyExists, "\(refused)")
            #expect(refused.message.contains("default/web"), "\(refused)")
            _ = try await store.delete("/registry/services/default/web", expectedRevision: 0)
            let other = try await api.services.create(Make.service("other", port: 80))
            #expect(other.spec.port == 80)
        }
    }

    @Test("a late release of a port the service has claimed again (moved off it, then back) keeps the claim")
    func lateRelease() async throws {
        try await withAPIServer { api, store in
            var web = try await api.services.create(Make.service("web", port: 80))
            web.spec.port = 81
            web = try await api.services.update(web)
            web.spec.port = 80
            web = try await api.services.update(web)
            // The release of port 80 by the first update, had it come only now.
            let claims = ServicePortClaims(store: store, gracePeriod: .seconds(30))
            await claims.release(port: 80, protocol: .tcp, uid: web.metadata.uid)
            let refused = await rpcError { _ = try await api.services.create(Make.service("other", port: 80)) }
            #expect(refused.code == .alreadyExists && refused.message.contains("default/web"), "\(refused)")
        }
    }

    @Test("concurrent creates on one port: exactly one wins")
    func race() async throws {
        try await withAPIServer { api, _ in
            for round in 0..<5 {
                let port = Int32(9000 + round)
                let codes = await withTaskGroup(of: RPCCode.self) { group in
                    for index in 0..<4 {
                        group.addTask {
                            do {
                                _ = try await api.services.create(Make.service("s\(round)-\(index)", port: port))
                                return .ok
                            } catch let error as RPCError {
                                return error.code
                            } catch {
                                return .unknown
                            }
                        }
                    }
                    var codes: [RPCCode] = []
                    for await code in group { codes.append(code) }
                    return codes
                }
                #expect(codes.filter { $0 == .ok }.count == 1)
                #expect(codes.filter { $0 == .alreadyExists }.count == 3)
                let list = try await api.services.list(Make.list())
                #expect(list.items.filter { $0.spec.port == port }.count == 1)
            }
        }
    }

    @Test("validation: port and protocol")
    func validation() async throws {
        try await withAPIServer { api, _ in
            var service = Make.service("web", port: 0)
            service.spec.protocol = .unrecognized(5)
            let error = await rpcError { _ = try await api.services.create(service) }
            let violated = try Set(fieldViolations(error).keys)
            #expect(violated == ["spec.port", "spec.protocol"])
        }
    }
}

@Suite("Replication controllers and endpoints")
struct ControllerAndEndpointsTests {
    @Test("controllers: CRUD; template labels must match the selector; Create drops a status, Update may change it")
    func controllers() async throws {
        try await withAPIServer { api, _ in
            var controller = Make.controller("web")
            controller.status.replicas = 9  // only the controller manager reports what it observed
            let created = try await api.controllers.create(controller)
            #expect(created.spec.template.spec.restartPolicy == .always)
            #expect(!created.hasStatus && created.status.replicas == 0)
            var scaled = created
            scaled.spec.replicas = 5
            scaled.status.replicas = 3
            let updated = try await api.controllers.update(scaled)
            #expect(updated.spec.replicas == 5 && updated.status.replicas == 3)
            var mismatched = Make.controller("db")
            mismatched.spec.template.metadata.labels = ["app": "other"]
            let error = await rpcError { _ = try await api.controllers.create(mismatched) }
            #expect(try fieldViolations(error).keys.contains("spec.template.metadata.labels"))
            #expect(try await api.controllers.list(Make.list()).items.map(\.metadata.name) == ["web"])
            _ = try await api.controllers.delete(Make.delete("web"))
            #expect(try await api.controllers.list(Make.list()).items.isEmpty)
        }
    }

    @Test("endpoints: CRUD; every entry must be ip:port")
    func endpoints() async throws {
        try await withAPIServer { api, _ in
            let created = try await api.endpoints.create(Make.endpoints("web", ["10.10.1.1:1909", "10.10.2.2:8834"]))
            var changed = created
            changed.endpoints = ["10.10.3.3:80"]
            #expect(try await api.endpoints.update(changed).endpoints == ["10.10.3.3:80"])
            let error = await rpcError { _ = try await api.endpoints.create(Make.endpoints("db", ["10.0.0.1:80", "nope"])) }
            #expect(try fieldViolations(error) .keys.contains("endpoints[1]"))
            #expect(try await api.endpoints.get(Make.get("web")).endpoints == ["10.10.3.3:80"])
        }
    }
}
