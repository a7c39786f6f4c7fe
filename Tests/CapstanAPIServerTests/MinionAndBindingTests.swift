import CapstanAPI
import CapstanAPIServerHost
import CapstanRPC
import CapstanStore
import Testing

@Suite("Minions")
struct MinionTests {
    @Test("Create, Get, List, Delete of a cluster-scoped kind")
    func crud() async throws {
        try await withAPIServer { api, store in
            let created = try await api.minions.create(Make.minion("m1"))
            #expect(created.metadata.namespace == "")
            #expect(try await store.get("/registry/minions/m1").modRevision == Int64(created.metadata.resourceVersion))
            #expect(try await api.minions.get(Make.get("m1")) == created)
            #expect(try await api.minions.get(Make.get("m1", namespace: "ignored")) == created)
            _ = try await api.minions.create(Make.minion("m2"))
            #expect(try await api.minions.list(Make.list()).items.map(\.metadata.name) == ["m1", "m2"])
            let deleted = try await api.minions.delete(Make.delete("m1"))
            #expect(deleted.metadata.name == "m1")
            #expect(await rpcError { _ = try await api.minions.get(Make.get("m1")) }.message == "minion \"m1\" not found")
            var namespaced = Make.minion("m3")
            namespaced.metadata.namespace = "default"
            let error = await rpcError { _ = try await api.minions.create(namespaced) }
            #expect(try fieldViolations(error).keys.contains("metadata.namespace"))
        }
    }

    @Test("Minions/Update is UNIMPLEMENTED with the reason")
    func noUpdate() async throws {
        try await withAPIServer { api, _ in
            let update = MethodDescriptor<Minion, Minion>(service: Minions.serviceName, method: "Update", kind: .unary)
            let error = await rpcError { _ = try await api.rpc.unary(update, Make.minion("m1")) }
            #expect(error.code == .unimplemented)
            #expect(error.message == "minions cannot be updated: delete and re-create")
        }
    }

    @Test("ReportStatus replaces only the status")
    func reportStatus() async throws {
        try await withAPIServer { api, _ in
            let created = try await api.minions.create(Make.minion("m1"))
            var report = MinionStatusReport()
            report.name = "m1"
            var condition = MinionCondition()
            condition.type = "Ready"
            condition.status = .true
            report.status.conditions = [condition]
            report.status.machineInfo.numCores = 8
            let reported = try await api.minions.reportStatus(report)
            #expect(reported.status == report.status)
            #expect(reported.spec == created.spec && reported.metadata.uid == created.metadata.uid)
            #expect(reported.metadata.resourceVersion > created.metadata.resourceVersion)
            report.name = "missing"
            #expect(await rpcError { _ = try await api.minions.reportStatus(report) }.code == .notFound)
            report.name = "m1"
            report.status.conditions[0].status = .unrecognized(9)
            let invalid = await rpcError { _ = try await api.minions.reportStatus(report) }
            #expect(try fieldViolations(invalid).keys.contains("status.conditions[0].status"))
        }
    }
}

@Suite("Bindings")
struct BindingTests {
    func binding(_ pod: String, to host: String) -> Binding {
        var binding = Binding()
        binding.podName = pod
        binding.host = host
        return binding
    }

    @Test("Create binds an unbound pod and returns it")
    func bind() async throws {
        try await withAPIServer { api, _ in
            _ = try await api.minions.create(Make.minion("m1"))
            let pod = try await api.pods.create(Make.pod("web"))
            let bound = try await api.bindings.create(binding("web", to: "m1"))
            #expect(bound.spec.host == "m1")
            #expect(bound.metadata.resourceVersion > pod.metadata.resourceVersion)
            #expect(try await api.pods.get(Make.get("web")) == bound)
        }
    }

    @Test("an already bound pod fails with FAILED_PRECONDITION naming its host; missing minion or pod is NOT_FOUND")
    func failures() async throws {
        try await withAPIServer { api, _ in
            _ = try await api.minions.create(Make.minion("m1"))
            _ = try await api.minions.create(Make.minion("m2"))
            _ = try await api.pods.create(Make.pod("web"))
            let noMinion = await rpcError { _ = try await api.bindings.create(binding("web", to: "m9")) }
            #expect(noMinion.code == .notFound && noMinion.message == "minion \"m9\" not found")
            let noPod = await rpcError { _ = try await api.bindings.create(binding("nope", to: "m1")) }
            #expect(noPod.code == .notFound && noPod.message == "pod \"default/nope\" not found")
            _ = try await api.bindings.create(binding("web", to: "m1"))
            let again = await rpcError { _ = try await api.bindings.create(binding("web", to: "m2")) }
            #expect(again.code == .failedPrecondition)
            #expect(again.message.contains("\"m1\""))
            let invalid = await rpcError { _ = try await api.bindings.create(binding("", to: "")) }
            let violated = try Set(fieldViolations(invalid).keys)
            #expect(violated == ["pod_name", "host"])
        }
    }

    @Test("concurrent bindings of one pod: exactly one wins")
    func race() async throws {
        try await withAPIServer { api, _ in
            for index in 0..<4 { _ = try await api.minions.create(Make.minion("m\(index)")) }
            for round in 0..<5 {
                _ = try await api.pods.create(Make.pod("p\(round)"))
                let outcomes = await withTaskGroup(of: RPCCode.self) { group in
                    for index in 0..<4 {
                        group.addTask {
                            do {
                                _ = try await api.bindings.create(binding("p\(round)", to: "m\(index)"))
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
                #expect(outcomes.filter { $0 == .ok }.count == 1)
                #expect(outcomes.filter { $0 == .failedPrecondition }.count == 3)
            }
        }
    }

    @Test("a binding racing its minion's delete: never a pod bound after its minion is gone")
    func raceWithMinionDelete() async throws {
        try await withAPIServer { api, _ in try await raceBindingsWithMinionDeletes(api, rounds: 40) }
    }

    @Test("a pod created on a minion racing the minion's delete: never created after the minion is gone")
    func placedPodRaceWithMinionDelete() async throws {
        try await withAPIServer { api, _ in try await racePlacedPodsWithMinionDeletes(api, rounds: 40) }
    }

    @Test("both races over HTTP/2, on each store backend", .timeLimit(.minutes(3)), arguments: Backend.allCases)
    func racesWithMinionDeleteOverHTTP2(backend: Backend) async throws {
        try await BackendFixture.with(backend) { fixture in
            let host = try await fixture.startHost(options: testOptions())
            let clients = try HTTP2Clients(address: host.address)
            do {
                try await raceBindingsWithMinionDeletes(clients.api, rounds: 20)
                try await racePlacedPodsWithMinionDeletes(clients.api, rounds: 20)
            } catch {
                Issue.record(error, "\(backend)")
            }
            await clients.close()
            await host.stop()
        }
    }

    /// Each round binds a new pod to a new minion while deleting the minion.
    private func raceBindingsWithMinionDeletes(_ api: APIClients, rounds: Int) async throws {
        for round in 0..<rounds {
            _ = try await api.minions.create(Make.minion("m\(round)"))
            _ = try await api.pods.create(Make.pod("p\(round)"))
            async let bound = outcome { try await api.bindings.create(binding("p\(round)", to: "m\(round)")) }
            async let deleted = api.minions.delete(Make.delete("m\(round)"))
            let (write, minion) = try await (bound, deleted)
            try await expectNotAfterDelete(write, minion, round: round) {
                try await api.pods.get(Make.get("p\(round)")).spec.host.isEmpty
            }
        }
    }

    /// Each round creates a pod on a new minion (`spec.host` set) while deleting the minion.
    private func racePlacedPodsWithMinionDeletes(_ api: APIClients, rounds: Int) async throws {
        for round in 0..<rounds {
            _ = try await api.minions.create(Make.minion("n\(round)"))
            async let created = outcome { try await api.pods.create(Make.pod("q\(round)", host: "n\(round)")) }
            async let deleted = api.minions.delete(Make.delete("n\(round)"))
            let (pod, minion) = try await (created, deleted)
            try await expectNotAfterDelete(pod, minion, round: round) {
                await rpcError { _ = try await api.pods.get(Make.get("q\(round)")) }.code == .notFound
            }
        }
    }

    /// The pod written, or the error of the call that tried.
    private func outcome(_ call: () async throws -> Pod) async -> Result<Pod, RPCError> {
        do {
            return .success(try await call())
        } catch let error as RPCError {
            return .failure(error)
        } catch {
            return .failure(RPCError(code: .unknown, message: "\(error)"))
        }
    }

    /// A write that succeeded came before the minion's delete; one that failed names the minion
    /// as missing and left `unwritten` true.
    private func expectNotAfterDelete(
        _ write: Result<Pod, RPCError>, _ minion: Minion, round: Int, unwritten: () async throws -> Bool
    ) async throws {
        switch write {
        case .success(let pod):
            let (written, deleted) = (pod.metadata.resourceVersion, minion.metadata.resourceVersion)
            #expect(written < deleted, "round \(round): written at \(written), its minion deleted at \(deleted)")
        case .failure(let error):
            #expect(error.code == .notFound, "round \(round): \(error)")
            #expect(error.message == "minion \"\(minion.metadata.name)\" not found", "round \(round)")
            #expect(try await unwritten(), "round \(round)")
        }
    }

    @Test("every other Bindings method is UNIMPLEMENTED with the reason", arguments: ["Get", "List", "Update", "Delete", "Watch"])
    func writeOnly(method: String) async throws {
        try await withAPIServer { api, _ in
            let descriptor = MethodDescriptor<Binding, Pod>(service: Bindings.serviceName, method: method, kind: .unary)
            let error = await rpcError { _ = try await api.rpc.unary(descriptor, Binding()) }
            #expect(error.code == .unimplemented)
            #expect(error.message.contains("write-only"))
        }
    }
}
