@testable import CapstanAPIServer
import CapstanAPI
import CapstanRPC
import CapstanStore
import CapstanWire
import Foundation
import Testing

@Suite("Error table")
struct ErrorTableTests {
    @Test("every registry error maps to API.md's code", arguments: [
        (RegistryError.notFound(kind: "pod", namespace: "a", name: "b"), RPCCode.notFound),
        (.alreadyExists(kind: "pod", namespace: "a", name: "b"), .alreadyExists),
        (.conflict(kind: "pod", namespace: "a", name: "b", expected: 1, current: 2), .aborted),
        (.uidMismatch(kind: "pod", namespace: "a", name: "b", expected: "x", current: "y"), .aborted),
        (.invalid(kind: "pod", namespace: "a", name: "b", errors: [FieldError("metadata.name", "bad")]), .invalidArgument),
        (.fieldNotChangeable(kind: "pod", namespace: "a", name: "b", field: "spec.host", verb: "Pods/Update", advice: "use Bindings/Create"), .invalidArgument),
        (.unsupported(reason: "no"), .unimplemented),
        (.badSelector(SelectorError(kind: .label, selector: "a b", position: 2, token: "b", reason: "r")), .invalidArgument),
        (.badContinueToken("x"), .invalidArgument),
        (.tooOld(requested: 3), .outOfRange),
        (.tooNew(requested: 9, current: 5), .outOfRange),
        (.readAfterUnknown(requested: 9, current: 5), .outOfRange),
        (.alreadyBound(namespace: "a", name: "b", host: "m1"), .failedPrecondition),
        (.portInUse(port: 80, protocol: "TCP", holderNamespace: "a", holderName: "b"), .alreadyExists),
        (.continueTooNew(requested: 9, current: 8), .outOfRange),
        (.serviceDisplaced(namespace: "a", name: "b", port: "81/TCP", oldPort: "80/TCP"), .alreadyExists),
        (.serviceBeingMoved(namespace: "a", name: "b", port: "81/TCP"), .aborted),
        (.watcherTooSlow(limit: 5), .resourceExhausted),
        (.tooManyWatches(resource: "pods", limit: 5), .resourceExhausted),
        (.initialEventsTooSlow(revision: 5, events: 10, bytes: 1 << 20), .resourceExhausted),
        (.tooLarge(kind: "pod", bytes: 10, limit: 5), .resourceExhausted),
        (.unavailable(reason: "x"), .unavailable),
        (.unauthenticated(reason: "x"), .unauthenticated),
        (.permissionDenied(identity: "x", method: "y"), .permissionDenied),
        (.store(.unavailable(reason: "closed")), .unavailable),
        (.store(.compacted(requested: 3, compactedRevision: 5)), .outOfRange),
        (.store(.invalid(reason: "x")), .invalidArgument),
        (.internal("x"), .internal),
    ])
    func mapping(error: RegistryError, code: RPCCode) {
        #expect(error.rpcError.code == code)
        if case .store = error {
            #expect(error.rpcError.details == nil)
        } else {
            #expect((error.rpcError.details != nil) == (code == .invalidArgument))
        }
        // The details' google.rpc.Status agrees with the call's status, as clients check.
        if let details = error.rpcError.details {
            let status = try? Google_Rpc_Status(serializedBytes: details)
            #expect(status?.code == Int32(code.rawValue) && status?.message == error.rpcError.message, "\(String(describing: status))")
        }
    }

    @Test("messages say what API.md says they say")
    func messages() {
        #expect(RegistryError.tooOld(requested: 7).rpcError.message == "resource version 7 is too old; list again")
        #expect(RegistryError.conflict(kind: "pod", namespace: "a", name: "b", expected: 3, current: 9).rpcError.message
            .contains("expected resource version 3, current is 9"))
        #expect(RegistryError.notFound(kind: "minion", namespace: "", name: "m1").rpcError.message == "minion \"m1\" not found")
        #expect(RegistryError.watcherTooSlow(limit: 5).rpcError.message.contains("5 events"))
        #expect(RegistryError.unavailable(reason: "x").rpcError.message.contains("retry"))
    }

    @Test("tokens: none or unknown is UNAUTHENTICATED; a read-only identity writing is PERMISSION_DENIED")
    func auth() async throws {
        let authenticator = TokenAuthenticator(tokens: [
            "admin-token": Identity(name: "admin", access: .readWrite),
            "viewer-token": Identity(name: "viewer", access: .readOnly),
        ])
        try await withAPIServer(interceptors: [authenticator]) { api, _ in
            let anonymous = await rpcError { _ = try await api.pods.list(Make.list()) }
            #expect(anonymous.code == .unauthenticated)
            let wrong = await rpcError {
                _ = try await api.pods.list(Make.list(), options: CallOptions(metadata: ["authorization": "Bearer nope"]))
            }
            #expect(wrong.code == .unauthenticated)
            let admin = CallOptions(metadata: ["authorization": "Bearer admin-token"])
            let viewer = CallOptions(metadata: ["authorization": "Bearer viewer-token"])
            _ = try await api.pods.create(Make.pod("web"), options: admin)
            #expect(try await api.pods.list(Make.list(), options: viewer).items.count == 1)
            let denied = await rpcError { _ = try await api.pods.delete(Make.delete("web"), options: viewer) }
            #expect(denied.code == .permissionDenied)
            #expect(denied.message == "viewer may not call capstan.v1.Pods/Delete")
        }
    }

    @Test("a name longer than any object's is NOT_FOUND on every verb that names an object, not the store's key limit")
    func impossibleNames() async throws {
        try await withAPIServer { api, _ in
            let long = String(repeating: "a", count: 9_000)
            var pod = Make.pod(long)
            var report = MinionStatusReport()
            report.name = long
            let calls: [(String, @Sendable () async throws -> Void)] = [
                ("Get", { _ = try await api.pods.get(Make.get(long)) }),
                ("Delete", { _ = try await api.pods.delete(Make.delete(long)) }),
                ("Update", { [pod] in _ = try await api.pods.update(pod) }),
                ("UpdateStatus", { [pod] in _ = try await api.pods.updateStatus(pod) }),
                ("ReportStatus", { [report] in _ = try await api.minions.reportStatus(report) }),
                ("Delete in a long namespace", { _ = try await api.pods.delete(Make.delete("p", namespace: long)) }),
            ]
            for (verb, call) in calls {
                let error = await rpcError { try await call() }
                #expect(error.code == .notFound, "\(verb): \(error)")
                #expect(error.message.hasSuffix("not found"), "\(verb): \(error.message.suffix(80))")
            }
            // A create is validated: the name is the bad field.
            pod.metadata.resourceVersion = 0
            let error = await rpcError { _ = try await api.pods.create(pod) }
            #expect(error.code == .invalidArgument && error.message.contains("metadata.name"), "\(error)")
        }
    }

    @Test("an object over the size limit is RESOURCE_EXHAUSTED naming the limit")
    func tooLarge() async throws {
        let options = testOptions { $0.maxObjectBytes = 2000 }
        try await withAPIServer(options: options) { api, _ in
            var pod = Make.pod("big")
            pod.metadata.annotations = ["note": String(repeating: "x", count: 5000)]
            let error = await rpcError { _ = try await api.pods.create(pod) }
            #expect(error.code == .resourceExhausted && error.message.contains("the limit is 2000"))
        }
    }

    @Test("a store that goes away: writes and watches end UNAVAILABLE")
    func storeUnavailable() async throws {
        try await withAPIServer { api, store in
            let watch = WatchReader(try await api.pods.watch(Make.watch(initial: true)))
            #expect(try await watch.next()?.type == .bookmark)
            await (store as! SQLiteStore).close()
            let write = await rpcError { _ = try await api.pods.create(Make.pod("web")) }
            #expect(write.code == .unavailable)
            let watchError = await rpcError { _ = try await watch.next() }
            #expect(watchError.code == .unavailable)
        }
    }
}
