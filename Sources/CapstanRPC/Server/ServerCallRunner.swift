/// Runs a call's body and ends the call with its outcome, enforcing the deadline:
/// once it passes the call ends with `DEADLINE_EXCEEDED` at once and the body is cancelled.
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
            call.finish(await outcome(of: body, call: call))
            return
        }
        guard deadline > .now else {
            expire(call)
            return
        }
        await withTaskGroup(of: Event.self) { group in
            group.addTask {
                call.finish(await outcome(of: body, call: call))
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
        call.markCancelled()
        call.finish(RPCError(code: .deadlineExceeded, message: "the deadline passed before the call completed"))
    }

    /// `nil` for success, else the error as the client should see it.
    private static func outcome(of body: @Sendable () async throws -> Void, call: ServerCall) async -> RPCError? {
        do {
            try await body()
            return nil
        } catch {
            return RPCError(converting: error)
        }
    }
}
