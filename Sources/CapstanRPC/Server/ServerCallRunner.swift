/// Runs a call's body and ends the call with its outcome, enforcing the deadline:
/// once it passes the call ends with `DEADLINE_EXCEEDED` at once and the body is cancelled.
///
/// This is the path of transports without `ServerCallControl` (the in-process transport): with
/// a deadline it runs the body in a task group beside a sleeping task. Transports with it (HTTP/2)
/// enforce deadlines on their event loop's timers instead (`RPCServer.handleControlled`).
enum ServerCallRunner {
    private enum Event: Sendable {
        case bodyReturned
        case deadlinePassed
        case timerCancelled
    }

    static func run(
        call: ServerCall,
        deadline: ContinuousClock.Instant?,
        body: @escaping @Sendable () async throws -> Void
    ) async {
        guard let deadline else {
            call.finish(await outcome(of: body))
            return
        }
        guard deadline > .now else {
            expire(call)
            return
        }
        await withTaskGroup(of: Event.self) { group in
            group.addTask {
                call.finish(await outcome(of: body))
                return .bodyReturned
            }
            group.addTask {
                do {
                    try await Task.sleep(until: deadline, clock: .continuous)
                    return .deadlinePassed
                } catch {
                    return .timerCancelled
                }
            }
            while let event = await group.next() {
                switch event {
                case .bodyReturned:
                    group.cancelAll()
                    return
                case .deadlinePassed:
                    expire(call)
                    group.cancelAll()
                case .timerCancelled:
                    continue
                }
            }
        }
    }

    private static func expire(_ call: ServerCall) {
        call.deadlinePassed()
    }

    /// `nil` for success, else the error as the client should see it.
    static func outcome(of body: () async throws -> Void) async -> RPCError? {
        do {
            try await body()
            return nil
        } catch {
            return RPCError(converting: error)
        }
    }
}
