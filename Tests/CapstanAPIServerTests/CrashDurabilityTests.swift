import CapstanAPI
import CapstanAPIServerHost
import CapstanRPC
import CapstanTestSupport
import Foundation
import Synchronization
import Testing

/// SIGKILL of a loaded `capstan apiserver` loses no write it acknowledged, on either store.
///
/// Each round, eight callers create, update and delete pods of their own through the real
/// executable over HTTP/2, each remembering what was acknowledged and what was in flight. The
/// server is SIGKILLed at a random moment once a few hundred calls were acknowledged, started
/// again on the same store, and the pods it lists must be exactly the acknowledged state, except
/// that a call in flight at the kill may have happened or not. Revisions after the restart must be
/// past every acknowledged one (a lost commit would hand one out again).
@Suite("API server crash durability", .serialized)
struct CrashDurabilityTests {
    static let rounds = 3
    static let callers = 8

    @Test(.timeLimit(.minutes(4)), arguments: Backend.allCases)
    func acknowledgedWritesSurviveSIGKILL(_ backend: Backend) async throws {
        try await BackendFixture.with(backend) { fixture in
            try await withTemporaryDirectory { directory in
                let ledger = Ledger()
                var server = try await Self.start(fixture, log: directory + "/server-0.log")
                for round in 0..<Self.rounds {
                    try await Self.loadAndKill(server, round: round, ledger: ledger)
                    server = try await Self.start(fixture, log: directory + "/server-\(round + 1).log")
                    try await Self.verify(server, ledger: ledger, round: round)
                }
                try await server.stop()
            }
        }
    }

    /// `capstan apiserver` on the fixture's store, on a random loopback port.
    static func start(_ fixture: BackendFixture, log: String) async throws -> CapstanProcess {
        try await CapstanProcess.start(
            ["apiserver", "--listen", "127.0.0.1:0", "--store", fixture.address.description], logPath: log)
    }

    /// Runs the callers against `server` until it is killed, a random moment after 300 calls
    /// were acknowledged; every caller must stop on its own once the server is gone.
    static func loadAndKill(_ server: CapstanProcess, round: Int, ledger: Ledger) async throws {
        let clients = try HTTP2Clients(address: server.address)
        let callers = (0..<callers).map { caller in
            Task { () -> (any Error)? in
                do {
                    try await Self.call(clients.api.pods, prefix: "r\(round)-c\(caller)", ledger: ledger)
                    return nil
                } catch {
                    if !ledger.killed {
                        Issue.record("round \(round): caller \(caller) failed while the server ran: \(error)")
                    }
                    return error
                }
            }
        }
        let start = ledger.acknowledgedCalls
        try await bounded("300 acknowledged calls") {
            while ledger.acknowledgedCalls < start + 300 { try await Task.sleep(for: .milliseconds(10)) }
        }
        try await Task.sleep(for: .milliseconds(Int.random(in: 0...300)))
        ledger.killed = true
        let wasRunning = try await server.kill()
        #expect(wasRunning, "the server ended before the kill:\n\(server.output)")
        for (caller, task) in callers.enumerated() {
            let error = try await bounded("caller \(caller) to notice the server is gone") { await task.value }
            #expect(error != nil, "caller \(caller) ended without an error")
        }
        await clients.close()
    }

    /// Creates pods named `prefix-N`; updates every third and deletes the next, each with its
    /// revision as precondition. Ends at the first failed call (at the latest after 20,000 calls).
    static func call(_ pods: Pods.Client, prefix: String, ledger: Ledger) async throws {
        for index in 0..<10_000 {
            let name = "\(prefix)-\(index)"
            ledger.begin(name, would: .present(step: "0", revision: nil))
            let created = try await ledger.acknowledge(name) {
                try await pods.create(Make.pod(name, labels: ["step": "0"]))
            }
            switch index % 3 {
            case 0:
                var pod = created
                pod.metadata.labels["step"] = "1"
                ledger.begin(name, would: .present(step: "1", revision: nil))
                _ = try await ledger.acknowledge(name) { try await pods.update(pod) }
            case 1:
                ledger.begin(name, would: .absent)
                _ = try await ledger.acknowledge(name) {
                    try await pods.delete(Make.delete(name, precondition: created.metadata.resourceVersion))
                }
            default:
                break
            }
        }
    }

    /// Lists every pod from the restarted `server` and checks it against the ledger; then one more
    /// create, whose revision must be past every acknowledged one.
    static func verify(_ server: CapstanProcess, ledger: Ledger, round: Int) async throws {
        let clients = try HTTP2Clients(address: server.address)
        do {
            var stored: [String: PodState] = [:]
            var token = ""
            repeat {
                let page = try await clients.api.pods.list(Make.list(limit: 500, continueToken: token))
                for pod in page.items {
                    stored[pod.metadata.name] = .present(
                        step: pod.metadata.labels["step"] ?? "", revision: pod.metadata.resourceVersion)
                }
                token = page.continueToken
            } while !token.isEmpty
            let mismatches = ledger.mismatches(stored)
            #expect(mismatches.isEmpty, "round \(round): \(mismatches.prefix(10).joined(separator: "; "))")
            let next = try await clients.api.pods.create(Make.pod("after-r\(round)"))
            #expect(
                next.metadata.resourceVersion > ledger.highestRevision,
                "round \(round): revision \(next.metadata.resourceVersion) was handed out again")
            ledger.settle("after-r\(round)", as: .present(step: "", revision: next.metadata.resourceVersion))
        } catch {
            Issue.record("round \(round): the restarted server failed: \(error)\n\(server.output)")
        }
        await clients.close()
    }
}

/// What a pod name is in the store: absent, or present with its `step` label at a revision
/// (`nil`: not known, for a call that was never acknowledged).
enum PodState: Equatable, Sendable, CustomStringConvertible {
    case absent
    case present(step: String, revision: UInt64?)

    var description: String {
        switch self {
        case .absent: "absent"
        case .present(let step, let revision): "step \(step) at \(revision.map(String.init) ?? "?")"
        }
    }
}

/// Every pod name's acknowledged state and the state its call in flight would leave, shared by
/// the callers.
final class Ledger: Sendable {
    private struct Entry {
        var acknowledged: PodState = .absent
        var inFlight: PodState?
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var acknowledgedCalls = 0
        var highestRevision: UInt64 = 0
        var killed = false
    }

    private let state = Mutex(State())

    var acknowledgedCalls: Int { state.withLock { $0.acknowledgedCalls } }
    var highestRevision: UInt64 { state.withLock { $0.highestRevision } }
    var names: Int { state.withLock { $0.entries.count } }
    /// Set just before the server is killed: a call that fails before then is a defect.
    var killed: Bool {
        get { state.withLock { $0.killed } }
        set { state.withLock { $0.killed = newValue } }
    }

    /// A call on `name` is about to go out; acknowledged, it leaves `would`.
    func begin(_ name: String, would: PodState) {
        state.withLock { $0.entries[name, default: Entry()].inFlight = would }
    }

    /// Runs the call begun on `name`; on success records the pod it returned (for a delete, absence).
    func acknowledge(_ name: String, _ call: () async throws -> Pod) async throws -> Pod {
        let pod = try await call()
        state.withLock { state in
            guard let would = state.entries[name]?.inFlight else { return }
            let revision = pod.metadata.resourceVersion
            switch would {
            case .absent: state.entries[name]?.acknowledged = .absent
            case .present(let step, _): state.entries[name]?.acknowledged = .present(step: step, revision: revision)
            }
            state.entries[name]?.inFlight = nil
            state.acknowledgedCalls += 1
            state.highestRevision = max(state.highestRevision, revision)
        }
        return pod
    }

    /// Records `name` as known to be `settled` (a call checked by the test itself).
    func settle(_ name: String, as settled: PodState) {
        state.withLock { $0.entries[name] = Entry(acknowledged: settled, inFlight: nil) }
    }

    /// Every name whose stored state is neither its acknowledged state nor (for a call in flight
    /// at the kill) the state that call would leave; and every stored name nobody created.
    /// Every name is then settled as it was found, so the next round reports only its own.
    func mismatches(_ stored: [String: PodState]) -> [String] {
        state.withLock { state in
            var problems: [String] = []
            for name in stored.keys where state.entries[name] == nil {
                problems.append("\(name) is stored but was never created")
            }
            for (name, entry) in state.entries {
                let found = stored[name] ?? .absent
                if found != entry.acknowledged && !Self.matches(found, entry.inFlight, after: entry.acknowledged) {
                    let inFlight = entry.inFlight.map { ", or \($0) from the call in flight" } ?? ""
                    problems.append("\(name): acknowledged \(entry.acknowledged)\(inFlight), stored \(found)")
                }
                state.entries[name] = Entry(acknowledged: found, inFlight: nil)
            }
            return problems.sorted()
        }
    }

    /// Whether `found` is what the unacknowledged call `inFlight` leaves when it happened after
    /// `acknowledged`.
    private static func matches(_ found: PodState, _ inFlight: PodState?, after acknowledged: PodState) -> Bool {
        switch (found, inFlight) {
        case (.absent, .absent?):
            return true
        case (.present(let step, let revision?), .present(let expected, nil)?):
            guard step == expected else { return false }
            if case .present(_, let before?) = acknowledged { return revision > before }
            return true
        default:
            return false
        }
    }
}
