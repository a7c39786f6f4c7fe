public import CapstanAPI
public import CapstanWire
import Synchronization

/// `grpc.health.v1.Health`: the serving status of the server (service name `""`) and of each
/// named service, as the application sets it.
///
/// Follows grpc's own health servers:
/// - The server as a whole (`""`) starts `SERVING`; other names are unknown until set.
/// - `Check` answers the status, or fails `NOT_FOUND` for a name never set.
/// - `Watch` sends the current status (`SERVICE_UNKNOWN` for a name never set, without failing),
///   then one message per change. Each watcher buffers at most one unsent status: a watcher
///   that reads slowly skips intermediate statuses and gets the latest, and never receives the
///   same status twice in a row.
/// - `shutdown()` sets every status to `NOT_SERVING` and freezes it: later `setStatus` calls
///   record `NOT_SERVING` whatever they ask for.
///
/// One difference: grpc leaves `Watch` calls open after its health server shuts down, until the
/// RPC server stops. Here `shutdown()` also ends them (with `OK`, after their final
/// `NOT_SERVING`), and a `Watch` started afterwards gets the current status and ends, so a graceful
/// drain of the RPC server is not held up by health watchers. Call it when the server begins
/// to drain.
public final class HealthService: Grpc_Health_V1_Health.Handler, Sendable {
    public typealias ServingStatus = Grpc_Health_V1_HealthCheckResponse.ServingStatus

    private struct State {
        var statuses: [String: ServingStatus]
        /// Watchers by the service name they watch, then by an id unique to each call.
        var watchers: [String: [UInt64: LatestValueMailbox<ServingStatus>]] = [:]
        var nextWatcherID: UInt64 = 0
        var isShutDown = false
    }

    private let state: Mutex<State>

    /// - Parameter serverStatus: the initial status of the server as a whole (`""`).
    public init(serverStatus: ServingStatus = .serving) {
        state = Mutex(State(statuses: ["": serverStatus]))
    }

    /// Sets the status of `service` (`""`: the whole server) and tells its watchers if it changed.
    /// After `shutdown()` the status recorded is `NOT_SERVING` whatever `status` is.
    public func setStatus(_ status: ServingStatus, for service: String = "") {
        state.withLock { state in
            let recorded = state.isShutDown ? .notServing : status
            Self.record(recorded, for: service, in: &state)
        }
    }

    /// The status of `service`, or `nil` if it was never set.
    public func status(for service: String = "") -> ServingStatus? {
        state.withLock { $0.statuses[service] }
    }

    /// Sets every status to `NOT_SERVING`, ignores later changes, and ends every `Watch` call
    /// once it has sent its final status. Idempotent.
    public func shutdown() {
        state.withLock { state in
            guard !state.isShutDown else { return }
            state.isShutDown = true
            for service in state.statuses.keys {
                Self.record(.notServing, for: service, in: &state)
            }
            for watchers in state.watchers.values {
                for mailbox in watchers.values { mailbox.close() }
            }
        }
    }

    /// Whether `shutdown()` was called.
    public var isShutDown: Bool {
        state.withLock { $0.isShutDown }
    }

    /// The number of `Watch` calls in progress.
    public var watchCount: Int {
        state.withLock { state in state.watchers.values.reduce(0) { $0 + $1.count } }
    }

    // MARK: - grpc.health.v1.Health

    public func check(
        request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext
    ) async throws -> Grpc_Health_V1_HealthCheckResponse {
        guard let status = status(for: request.service) else {
            throw RPCError(code: .notFound, message: "unknown service '\(request.service)'")
        }
        return Self.response(status)
    }

    public func watch(
        request: Grpc_Health_V1_HealthCheckRequest,
        response: ResponseStream<Grpc_Health_V1_HealthCheckResponse>,
        context: ServerContext
    ) async throws {
        let service = request.service
        let mailbox = LatestValueMailbox<ServingStatus>()
        // Registering and posting the current status under one lock: no change can slip between.
        let id: UInt64? = state.withLock { state in
            mailbox.post(state.statuses[service] ?? .serviceUnknown)
            guard !state.isShutDown else {
                mailbox.close()
                return nil
            }
            let id = state.nextWatcherID
            state.nextWatcherID += 1
            state.watchers[service, default: [:]][id] = mailbox
            return id
        }
        defer {
            if let id { unregisterWatcher(id, of: service) }
        }

        var lastSent: ServingStatus?
        while let status = await mailbox.next() {
            guard status != lastSent else { continue }
            try await response.write(Self.response(status))
            lastSent = status
        }
        // `nil`: either shutdown() closed the mailbox (end with OK) or the call was cancelled.
        try Task.checkCancellation()
    }

    // MARK: - Private

    private func unregisterWatcher(_ id: UInt64, of service: String) {
        state.withLock { state in
            state.watchers[service]?[id] = nil
            if state.watchers[service]?.isEmpty == true { state.watchers[service] = nil }
        }
    }

    /// Records `status` and posts it to the service's watchers, under the caller's lock so that
    /// concurrent changes reach every watcher in the order they were recorded.
    private static func record(_ status: ServingStatus, for service: String, in state: inout State) {
        guard state.statuses[service] != status else { return }
        state.statuses[service] = status
        for mailbox in state.watchers[service, default: [:]].values {
            mailbox.post(status)
        }
    }

    private static func response(_ status: ServingStatus) -> Grpc_Health_V1_HealthCheckResponse {
        var response = Grpc_Health_V1_HealthCheckResponse()
        response.status = status
        return response
    }
}
