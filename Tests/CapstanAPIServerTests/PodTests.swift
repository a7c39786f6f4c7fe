import CapstanAPI
import CapstanRPC
import CapstanStore
import CapstanWire
import Testing

/// The field violations of an INVALID_ARGUMENT error's `google.rpc.BadRequest` detail.
func fieldViolations(_ error: RPCError) throws -> [String: String] {
    let status = try Google_Rpc_Status(serializedBytes: try #require(error.details))
    #expect(status.code == Int32(RPCCode.invalidArgument.rawValue))
    let any = try #require(status.details.first)
    #expect(any.typeUrl == "type.googleapis.com/google.rpc.BadRequest")
    let badRequest = try Google_Rpc_BadRequest(serializedBytes: any.value)
    return Dictionary(badRequest.fieldViolations.map { ($0.field, $0.description) }, uniquingKeysWith: { a, _ in a })
}

@Suite("Pods")
struct PodTests {
    @Test("Create sets server fields and defaults; Get returns the same object")
    func create() async throws {
        try await withAPIServer { api, store in
            let created = try await api.pods.create(Make.pod("web"))
            #expect(created.metadata.namespace == "default")
            #expect(created.metadata.uid.count == 36 && created.metadata.uid.split(separator: "-").count == 5)
            #expect(created.metadata.resourceVersion == UInt64(try await store.currentRevision()))
            #expect(created.metadata.hasCreationTimestamp && created.metadata.creationTimestamp.seconds > 1_600_000_000)
            #expect(created.spec.restartPolicy == .always)
            #expect(created.spec.containers[0].ports[0].protocol == .tcp)
            #expect(created.status.phase == .pending)
            let fetched = try await api.pods.get(Make.get("web"))
            #expect(fetched == created)
            let stored = try await store.get("/registry/pods/default/web")
            #expect(stored.modRevision == Int64(created.metadata.resourceVersion))
            #expect(try Pod(serializedBytes: stored.value).metadata.resourceVersion == 0)
        }
    }

    @Test("server-set fields sent by a client are replaced")
    func serverFieldsIgnored() async throws {
        try await withAPIServer { api, _ in
            var pod = Make.pod("web")
            pod.metadata.uid = "mine"
            pod.metadata.resourceVersion = 99
            pod.metadata.creationTimestamp.seconds = 5
            let created = try await api.pods.create(pod)
            #expect(created.metadata.uid != "mine")
            #expect(created.metadata.resourceVersion != 99)
            #expect(created.metadata.creationTimestamp.seconds != 5)
        }
    }

    @Test("generate_name appends a random suffix")
    func generateName() async throws {
        try await withAPIServer { api, _ in
            var pod = Make.pod("")
            pod.metadata.generateName = "web-"
            let first = try await api.pods.create(pod)
            let second = try await api.pods.create(pod)
            #expect(first.metadata.name.hasPrefix("web-") && first.metadata.name.count == 9)
            #expect(first.metadata.name != second.metadata.name)
            #expect(first.metadata.generateName == "web-")
            // A bad prefix is reported alone, not also a name made from it.
            pod.metadata.generateName = "Web_"
            let bad = await rpcError { _ = try await api.pods.create(pod) }
            #expect(bad.code == .invalidArgument)
            #expect(Array(try fieldViolations(bad).keys) == ["metadata.generate_name"], "\(bad)")
            #expect(bad.message.hasPrefix("invalid pod request: metadata.generate_name: must be the start"), "\(bad)")
        }
    }

    @Test("NOT_FOUND and ALREADY_EXISTS name the kind and namespace/name")
    func notFoundAndExists() async throws {
        try await withAPIServer { api, _ in
            let missing = await rpcError { _ = try await api.pods.get(Make.get("nope", namespace: "prod")) }
            #expect(missing.code == .notFound)
            #expect(missing.message == "pod \"prod/nope\" not found")
            _ = try await api.pods.create(Make.pod("web"))
            let exists = await rpcError { _ = try await api.pods.create(Make.pod("web")) }
            #expect(exists.code == .alreadyExists)
            #expect(exists.message == "pod \"default/web\" already exists")
            let deleteMissing = await rpcError { _ = try await api.pods.delete(Make.delete("nope")) }
            #expect(deleteMissing.code == .notFound && deleteMissing.message.contains("default/nope"))
            let updateMissing = await rpcError { _ = try await api.pods.update(Make.pod("nope")) }
            #expect(updateMissing.code == .notFound)
        }
    }

    @Test("validation reports every bad field at once, with BadRequest details")
    func validation() async throws {
        try await withAPIServer { api, _ in
            var pod = Make.pod("Bad_Name")
            pod.spec.containers.append(pod.spec.containers[0])
            pod.spec.containers[1].ports[0].containerPort = 0
            let error = await rpcError { _ = try await api.pods.create(pod) }
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("metadata.name") && error.message.contains("spec.containers[1].name"))
            let violations = try fieldViolations(error)
            #expect(Set(violations.keys) == ["metadata.name", "spec.containers[1].name", "spec.containers[1].ports[0].container_port"])
            #expect(violations["spec.containers[1].name"]?.contains("duplicate") == true)
        }
    }

    @Test("Update with a stale resource_version is ABORTED with expected vs current; 0 is unconditional")
    func optimisticConcurrency() async throws {
        try await withAPIServer { api, _ in
            let created = try await api.pods.create(Make.pod("web"))
            var first = created
            first.metadata.labels = ["v": "1"]
            let updated = try await api.pods.update(first)
            #expect(updated.metadata.resourceVersion > created.metadata.resourceVersion)
            #expect(updated.metadata.labels == ["v": "1"])
            #expect(updated.metadata.uid == created.metadata.uid)
            #expect(updated.metadata.creationTimestamp == created.metadata.creationTimestamp)
            var stale = created
            stale.metadata.labels = ["v": "2"]
            let conflict = await rpcError { _ = try await api.pods.update(stale) }
            #expect(conflict.code == .aborted)
            #expect(conflict.message.contains("expected resource version \(created.metadata.resourceVersion)"))
            #expect(conflict.message.contains("current is \(updated.metadata.resourceVersion)"))
            stale.metadata.resourceVersion = 0
            let unconditional = try await api.pods.update(stale)
            #expect(unconditional.metadata.labels == ["v": "2"])
            var otherIncarnation = unconditional
            otherIncarnation.metadata.uid = "00000000-0000-4000-8000-000000000000"
            let uid = await rpcError { _ = try await api.pods.update(otherIncarnation) }
            #expect(uid.code == .aborted && uid.message.contains("uid"))
        }
    }

    @Test("a resource version larger than any revision (a uint64 past 2^63 - 1) is INVALID_ARGUMENT naming its field")
    func resourceVersionOutOfRange() async throws {
        try await withAPIServer { api, _ in
            let pod = try await api.pods.create(Make.pod("web"))
            let service = try await api.services.create(Make.service("front", port: 80))
            let controller = try await api.controllers.create(Make.controller("rc"))
            for version in [UInt64(Int64.max) + 1, .max] {
                var updated = pod
                updated.metadata.resourceVersion = version
                var status = updated
                status.status.phase = .running
                var moved = service
                moved.metadata.resourceVersion = version
                var scaled = controller
                scaled.metadata.resourceVersion = version
                let refusals = [
                    await rpcError { _ = try await api.pods.update(updated) },
                    await rpcError { _ = try await api.pods.updateStatus(status) },
                    await rpcError { _ = try await api.services.update(moved) },
                    await rpcError { _ = try await api.controllers.update(scaled) },
                ]
                for refusal in refusals {
                    #expect(refusal.code == .invalidArgument && refusal.message.contains("metadata.resource_version"), "\(refusal)")
                }
                let delete = await rpcError { _ = try await api.pods.delete(Make.delete("web", precondition: version)) }
                #expect(delete.code == .invalidArgument && delete.message.contains("precondition_resource_version"), "\(delete)")
            }
            #expect(try await api.pods.get(Make.get("web")) == pod)
        }
    }

    @Test("an Update that changes nothing writes nothing")
    func noOpUpdate() async throws {
        try await withAPIServer { api, store in
            let created = try await api.pods.create(Make.pod("web"))
            let before = try await store.currentRevision()
            let same = try await api.pods.update(created)
            #expect(same == created)
            #expect(try await store.currentRevision() == before)
        }
    }

    @Test("Create drops a status the client sent: the kubelet reports it")
    func createDropsStatus() async throws {
        try await withAPIServer { api, _ in
            var pod = Make.pod("web")
            pod.status.phase = .running
            pod.status.podIp = "10.1.0.5"
            pod.status.message = "made up"
            let created = try await api.pods.create(pod)
            #expect(created.status == { var status = PodStatus(); status.phase = .pending; return status }())
            #expect(try await api.pods.get(Make.get("web")).status == created.status)
            // Nor does a status that would not validate fail the Create: it is not kept.
            var odd = Make.pod("odd")
            odd.status.phase = .unrecognized(42)
            #expect(try await api.pods.create(odd).status.phase == .pending)
        }
    }

    @Test("Update cannot change spec.host and keeps the status; UpdateStatus changes only the status")
    func updateRules() async throws {
        try await withAPIServer { api, _ in
            let created = try await api.pods.create(Make.pod("web"))
            var moved = created
            moved.spec.host = "m1"
            let error = await rpcError { _ = try await api.pods.update(moved) }
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("spec.host") && error.message.contains("Pods/Update")
                && error.message.contains("Bindings/Create"))
            #expect(try fieldViolations(error).keys.contains("spec.host"))
            // With other bad fields, all of them in one answer.
            var movedAndBroken = moved
            movedAndBroken.spec.containers[0].image = ""
            let both = await rpcError { _ = try await api.pods.update(movedAndBroken) }
            #expect(both.code == .invalidArgument)
            let violations = try fieldViolations(both)
            #expect(violations.keys.contains("spec.host") && violations.keys.contains("spec.containers[0].image"),
                "\(violations)")
            #expect(violations["spec.host"]?.contains("Bindings/Create") == true, "\(violations)")
            // A bound pod is not moved by binding again: the answer says to replace it.
            _ = try await api.minions.create(Make.minion("m1"))
            var placed = try await api.pods.create(Make.pod("placed", host: "m1"))
            placed.spec.host = ""
            let unbind = await rpcError { _ = try await api.pods.update(placed) }
            #expect(unbind.code == .invalidArgument)
            #expect(unbind.message == "pod \"default/placed\" is invalid: spec.host: cannot be changed by Pods/Update; "
                + "the pod is bound to minion \"m1\" for its life: delete it and create it again to run it elsewhere", "\(unbind)")

            var statusByUpdate = created
            statusByUpdate.status.phase = .running
            statusByUpdate.metadata.labels = ["a": "b"]
            let updated = try await api.pods.update(statusByUpdate)
            #expect(updated.status.phase == .pending && updated.metadata.labels == ["a": "b"])

            var report = updated
            report.status.phase = .running
            report.status.podIp = "10.1.0.5"
            report.metadata.labels = ["ignored": "yes"]
            report.spec.host = "ignored"
            let withStatus = try await api.pods.updateStatus(report)
            #expect(withStatus.status.phase == .running && withStatus.status.podIp == "10.1.0.5")
            #expect(withStatus.metadata.labels == ["a": "b"] && withStatus.spec.host == "")
            #expect(withStatus.metadata.resourceVersion > updated.metadata.resourceVersion)
            var stale = report
            stale.metadata.resourceVersion = updated.metadata.resourceVersion
            #expect(await rpcError { _ = try await api.pods.updateStatus(stale) }.code == .aborted)
            var bad = withStatus
            bad.status.phase = .unrecognized(42)
            let invalid = await rpcError { _ = try await api.pods.updateStatus(bad) }
            #expect(try fieldViolations(invalid).keys.contains("status.phase"))
            var badAddress = withStatus
            badAddress.status.podIp = "not-an-ip"
            let address = await rpcError { _ = try await api.pods.updateStatus(badAddress) }
            #expect(address.code == .invalidArgument)
            #expect(try fieldViolations(address).keys.contains("status.pod_ip"), "\(address)")
        }
    }

    @Test("Delete returns the last stored object at the delete's revision; a stale precondition is ABORTED")
    func delete() async throws {
        try await withAPIServer { api, store in
            let created = try await api.pods.create(Make.pod("web", labels: ["a": "b"]))
            let stale = await rpcError { _ = try await api.pods.delete(Make.delete("web", precondition: created.metadata.resourceVersion + 100)) }
            #expect(stale.code == .aborted && stale.message.contains("current is \(created.metadata.resourceVersion)"))
            let deleted = try await api.pods.delete(Make.delete("web", precondition: created.metadata.resourceVersion))
            #expect(deleted.metadata.resourceVersion == UInt64(try await store.currentRevision()))
            #expect(deleted.metadata.resourceVersion > created.metadata.resourceVersion)
            var expected = created
            expected.metadata.resourceVersion = deleted.metadata.resourceVersion
            #expect(deleted == expected)
            #expect(await rpcError { _ = try await api.pods.get(Make.get("web")) }.code == .notFound)
        }
    }

    @Test("a pod created with a host must name an existing minion")
    func manualPlacement() async throws {
        try await withAPIServer { api, _ in
            let missing = await rpcError { _ = try await api.pods.create(Make.pod("web", host: "m1")) }
            #expect(missing.code == .notFound && missing.message == "minion \"m1\" not found")
            _ = try await api.minions.create(Make.minion("m1"))
            let placed = try await api.pods.create(Make.pod("web", host: "m1"))
            #expect(placed.spec.host == "m1")
        }
    }

    @Test("a client reads its own writes at once")
    func readYourWrites() async throws {
        try await withAPIServer { api, _ in
            for index in 0..<50 {
                let created = try await api.pods.create(Make.pod("p\(index)"))
                let fetched = try await api.pods.get(Make.get("p\(index)"))
                #expect(fetched.metadata.resourceVersion >= created.metadata.resourceVersion)
                let list = try await api.pods.list(Make.list())
                #expect(list.items.count == index + 1)
                #expect(list.resourceVersion >= created.metadata.resourceVersion)
            }
        }
    }
}
