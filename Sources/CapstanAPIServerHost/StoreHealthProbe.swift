import CapstanAPI
import CapstanRPC
import CapstanStore
import Logging
import Synchronization

/// Keeps the health of the API's services in step with the store behind them.
///
/// Every `interval` it asks the store for its current revision, bounded by `timeout`. A probe
/// that fails or times out turns the whole server (`""`) and every API service `NOT_SERVING`; the
/// next one that succeeds turns them `SERVING` again. Each change is logged once. So a load
/// balancer, or an operator's `grpc_health_probe`, moves away from an API server that lost its
/// store (etcd down or cut off) while it still accepts connections, as a Kubernetes API server's
/// `/healthz` reports its etcd. The standard services (health, reflection) stay as they are.
/// After `HealthService.shutdown()` the statuses stay `NOT_SERVING` whatever the probe finds.
struct StoreHealthProbe: Sendable {
    let store: any Store
    let health: HealthService
    /// The names whose status follows the store (`""` and the API's services).
    let services: [String]
    let interval: Duration
    let timeout: Duration
    let logger = Logger(label: "capstan.apiserver")

    /// Marks every name `SERVING`, then probes every `interval` until the task is cancelled.
    func run() async {
        var healthy = true
        set(healthy)
        while !Task.isCancelled {
            guard (try? await Task.sleep(for: interval)) != nil else { return }
            let failure = await probe()
            guard (failure == nil) != healthy else { continue }
            healthy = failure == nil
            set(healthy)
            if let failure {
                logger.warning(
                    "the store does not answer; health is NOT_SERVING until it does", metadata: ["error": "\(failure)"])
            } else {
                logger.notice("the store answers again; health is SERVING")
            }
        }
    }

    private func set(_ healthy: Bool) {
        for service in services { health.setStatus(healthy ? .serving : .notServing, for: service) }
    }

    /// nil when the store answered within `timeout`, else what went wrong.
    private func probe() async -> String? {
        let store = store
        let timeout = timeout
        let race = FirstAnswer()
        return await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
            // Unstructured, so that a store call deaf to cancellation cannot hold the probe past
            // its timeout: whichever finishes first answers and cancels the other.
            race.start(
                continuation,
                Task {
                    guard (try? await Task.sleep(for: timeout)) != nil else { return }
                    race.resume("no answer within \(timeout)")
                },
                Task {
                    do {
                        _ = try await store.currentRevision()
                        race.resume(nil)
                    } catch {
                        race.resume("\(error)")
                    }
                })
        }
    }
}

/// A continuation resumed by the first of two racing tasks, which then cancels both.
private final class FirstAnswer: Sendable {
    private struct State {
        var continuation: CheckedContinuation<String?, Never>?
        var tasks: [Task<Void, Never>] = []
        /// An answer that came before `start` finished.
        var early: String??
    }

    private let state = Mutex(State())

    func start(
        _ continuation: CheckedContinuation<String?, Never>, _ first: Task<Void, Never>, _ second: Task<Void, Never>
    ) {
        let early: String?? = state.withLock { state in
            if let early = state.early { return early }
            state.continuation = continuation
            state.tasks = [first, second]
            return nil
        }
        if let early {
            first.cancel()
            second.cancel()
            continuation.resume(returning: early)
        }
    }

    func resume(_ value: String?) {
        let (continuation, tasks) = state.withLock { state in
            guard let continuation = state.continuation else {
                if state.early == nil { state.early = .some(value) }
                return (nil as CheckedContinuation<String?, Never>?, [Task<Void, Never>]())
            }
            state.continuation = nil
            defer { state.tasks = [] }
            return (continuation, state.tasks)
        }
        for task in tasks { task.cancel() }
        continuation?.resume(returning: value)
    }
}
