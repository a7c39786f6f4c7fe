import CapstanAPI
import CapstanRPC
import CapstanStore
import Logging
import Synchronization

/// Keeps the health of the API's services in step with the store behind them.
///
/// Every `interval` it asks the store whether it could take a write (`Store.checkWritable`: for
/// etcd a linearizable read, which needs a leader with a quorum; for SQLite a pass through the
/// writer's queue), bounded by `timeout`. A probe that fails or times out turns the whole server
/// (`""`) and every API service `NOT_SERVING`, and so does a watch cache feed that failed to
/// follow the store within the last few retries (a store that takes writes whose changes the
/// caches cannot read); the next probe that finds both well turns them `SERVING` again. Each
/// change is logged once. So a load balancer, or an operator's `grpc_health_probe`,
/// moves away from an API server that lost its store (etcd down or cut off, a SQLite writer that
/// cannot write) while it still accepts connections, as a Kubernetes API server's
/// `/healthz` reports its etcd. The standard services (health, reflection) stay as they are.
/// After `HealthService.shutdown()` the statuses stay `NOT_SERVING` whatever the probe finds.
struct StoreHealthProbe: Sendable {
    let store: any Store
    let health: HealthService
    /// The names whose status follows the store (`""` and the API's services).
    let services: [String]
    /// Returns once the caches first hold the store (the names turn SERVING then).
    let ready: @Sendable () async throws -> Void
    /// The watch caches' latest failure to follow the store, and when (`APIServer.storeFeedFailure`).
    let feedFailure: @Sendable () -> (reason: String, at: ContinuousClock.Instant)?
    /// Told at each probe the store fails (why), and once when it passes again (nil). (A feed
    /// that cannot follow the store turns health NOT_SERVING but is not told here.)
    let storeProbed: @Sendable (_ failure: String?) -> Void
    let interval: Duration
    let timeout: Duration
    let logger = Logger(label: "capstan.apiserver")
    /// Probe calls that may be out unanswered before no more are sent.
    static let maxUnanswered = 2
    /// Set once the names were first marked SERVING (`markReady`).
    private let readiness = ReadyGate()

    /// Probes every `interval` until the task is cancelled. What it finds goes to `storeProbed`
    /// from the start (reads waiting for the caches' first listing end at a failed probe), and
    /// to the health statuses once the server is ready (the names turn SERVING then).
    func run() async {
        let waitForReady = Task {
            guard (try? await ready()) != nil else { return }
            markReady()
        }
        defer { waitForReady.cancel() }
        var healthy = true
        // Store calls that outlived their probe's timeout (a hung fsync, or an etcd call still
        // retrying or connecting). While `maxUnanswered` are out, no other is started, so calls
        // do not pile up while the store hangs; with fewer, a new probe goes out, so that one
        // call still caught in an outage that ended does not keep the store "failing".
        var unanswered: [CallState] = []
        var toldFailure = false
        while !Task.isCancelled {
            guard (try? await Task.sleep(for: interval)) != nil else { return }
            var storeFailure: String?
            unanswered.removeAll { $0.returned.load(ordering: .acquiring) }
            if unanswered.count >= Self.maxUnanswered, let oldest = unanswered.first {
                storeFailure = "the store has not answered a probe sent \(oldest.started.duration(to: .now)) ago"
            } else {
                let (answer, call) = await probe()
                if answer != nil, !call.returned.load(ordering: .acquiring) { unanswered.append(call) }
                storeFailure = answer
            }
            // Every probe the store fails says so (a write may have ended the server's rule since).
            if let storeFailure {
                storeProbed(storeFailure)
                toldFailure = true
            } else if toldFailure {
                storeProbed(nil)
                toldFailure = false
            }
            let failure = storeFailure ?? recentFeedFailure()
            guard (failure == nil) != healthy else { continue }
            // Before the first listing the statuses stay NOT_SERVING (the host says why); the
            // check and the change are one step against `markReady`, so neither undoes the other.
            guard readiness.ifReady({ set(failure == nil) }) else { continue }
            healthy = failure == nil
            if let failure {
                logger.warning("the store cannot be used; health is NOT_SERVING until it can", metadata: ["error": "\(failure)"])
            } else {
                logger.notice("the store can be used again; health is SERVING")
            }
        }
    }

    /// Why the watch caches are not following the store, if they failed within the last few
    /// retries (a store that takes writes but whose changes the caches cannot read, such as
    /// SQLite history pages that fail to read, leaves reads stale or failing).
    /// A failure from before the server turned ready does not count: the caches have listed
    /// the store since (it would turn a server that just became SERVING NOT_SERVING for a moment).
    private func recentFeedFailure() -> String? {
        guard let failure = feedFailure(), failure.at.duration(to: .now) < max(interval * 3, .seconds(5)),
            let readySince = readiness.readySince, failure.at > readySince
        else { return nil }
        return "the watch caches cannot follow the store: \(failure.reason)"
    }

    /// Marks every name `SERVING` the first time it is called (once the caches first hold the
    /// store: the probe does, and so does a host's `waitUntilReady`, whichever comes first), and
    /// does nothing after: from then on the probe's findings rule, which a late call must not undo.
    func markReady() {
        readiness.markReady { set(true) }
    }

    /// Marks every name `SERVING` or `NOT_SERVING`.
    func set(_ healthy: Bool) {
        for service in services { health.setStatus(healthy ? .serving : .notServing, for: service) }
    }

    /// nil when the store answered within `timeout`, else what went wrong. The call and the
    /// timer are unstructured tasks, so that a store call deaf to cancellation cannot hold the
    /// probe past its timeout; the first to finish answers and both are cancelled.
    private func probe() async -> (failure: String?, call: CallState) {
        let store = store
        let timeout = timeout
        let answer = FirstAnswer()
        let timer = Task {
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            // A store call still retrying (etcd refusing connections) names why it retries.
            let cause = store.recentRetriedFailure(within: max(timeout * 2, .seconds(5))).map { " (it retries: \($0))" } ?? ""
            answer.give("the store did not answer a probe within \(timeout)\(cause)")
        }
        let state = CallState()
        let call = Task {
            defer { state.returned.store(true, ordering: .releasing) }
            do {
                try await store.checkWritable()
                answer.give(nil)
            } catch {
                answer.give("\(error)")
            }
        }
        let result = await withTaskCancellationHandler {
            await answer.value
        } onCancel: {
            answer.give("the probe was cancelled")
        }
        timer.cancel()
        call.cancel()
        return (result, state)
    }
}

/// Whether the server is ready, with the status changes that depend on it made under its lock:
/// `markReady` (SERVING, once) and the probe's later changes cannot interleave.
private final class ReadyGate: Sendable {
    /// When the gate was set, once it was.
    private let ready = Mutex<ContinuousClock.Instant?>(nil)

    /// When the server turned ready, or nil while it is not.
    var readySince: ContinuousClock.Instant? { ready.withLock { $0 } }

    /// Sets the gate and runs `body` the first time; does nothing after.
    func markReady(_ body: () -> Void) {
        ready.withLock { ready in
            guard ready == nil else { return }
            ready = .now
            body()
        }
    }

    /// Runs `body` if the gate is set; returns whether it ran.
    func ifReady(_ body: () -> Void) -> Bool {
        ready.withLock { ready in
            guard ready != nil else { return false }
            body()
            return true
        }
    }
}

/// When a probe's store call started, and whether it has returned.
private final class CallState: Sendable {
    let started = ContinuousClock.now
    let returned = Atomic<Bool>(false)
}

/// The first answer given, awaited by one caller.
private final class FirstAnswer: Sendable {
    private struct State {
        var answer: String??
        var waiter: CheckedContinuation<String?, Never>?
    }

    private let state = Mutex(State())

    /// Records `answer` unless one was given before, and hands it to the waiter.
    func give(_ answer: String?) {
        let waiter: CheckedContinuation<String?, Never>? = state.withLock { state in
            guard state.answer == nil else { return nil }
            state.answer = .some(answer)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: answer)
    }

    /// The first answer, once given.
    var value: String? {
        get async {
            await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
                let given: String?? = state.withLock { state in
                    if let answer = state.answer { return answer }
                    state.waiter = continuation
                    return nil
                }
                if let given { continuation.resume(returning: given) }
            }
        }
    }
}
