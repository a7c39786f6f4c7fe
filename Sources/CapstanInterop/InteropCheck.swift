import CapstanRPC

/// The checks a test case makes, each throwing an `InteropFailure` that names the case and
/// says what differed.
struct InteropCheck: Sendable {
    let testCase: InteropTestCase

    func failure(_ message: String, status: RPCStatus? = nil) -> InteropFailure {
        InteropFailure(testCase: testCase, message: message, status: status)
    }

    /// Runs a step that must succeed; an error from it becomes a failure naming `step` and the
    /// status. Failures pass through, and so does any error once the running task is cancelled.
    func succeeds<T>(_ step: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let failure as InteropFailure {
            throw failure
        } catch {
            if Task.isCancelled { throw error }
            let status = RPCError(converting: error).status
            throw failure("\(step) failed with \(Self.quoted(status)), expected it to succeed", status: status)
        }
    }

    /// Runs a step that must fail with `code` and, when given, exactly `message`; returns the error.
    @discardableResult
    func fails(
        _ step: String, with code: RPCCode, message: String? = nil, _ body: () async throws -> Void
    ) async throws -> RPCError {
        do {
            try await body()
        } catch let failure as InteropFailure {
            throw failure
        } catch {
            if Task.isCancelled { throw error }
            let received = RPCError(converting: error)
            guard received.code == code else {
                throw failure(
                    "\(step) failed with \(Self.quoted(received.status)), expected status \(code)",
                    status: received.status
                )
            }
            if let message, received.message != message {
                throw failure(
                    "\(step) failed with \(code) as expected, but its message is \(String(reflecting: received.message)), "
                        + "expected \(String(reflecting: message))",
                    status: received.status
                )
            }
            return received
        }
        throw failure("\(step) succeeded, expected it to fail with status \(code)", status: .ok)
    }

    /// Fails with `message` unless `condition` holds.
    func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws(InteropFailure) {
        if !condition { throw failure(message()) }
    }

    /// Checks a received payload: `COMPRESSABLE`, `size` bytes, all zero.
    func expectPayload(_ payload: Grpc_Testing_Payload, size: Int, in what: String) throws(InteropFailure) {
        try expect(
            payload.body.count == size,
            "\(what)'s payload body is \(payload.body.count) bytes, expected \(size)"
        )
        try expect(
            payload.type == .compressable,
            "\(what)'s payload type is \(payload.type.protoName ?? String(payload.type.rawValue)), expected COMPRESSABLE"
        )
        if let index = payload.body.firstIndex(where: { $0 != 0 }) {
            throw failure("\(what)'s payload body has the non-zero byte \(payload.body[index]) at offset \(index), expected only zeros")
        }
    }

    /// "1 response", "3 responses".
    static func responses(_ count: Int) -> String {
        count == 1 ? "1 response" : "\(count) responses"
    }

    /// A status with its message quoted, so whitespace and Unicode in it stay visible.
    private static func quoted(_ status: RPCStatus) -> String {
        status.message.isEmpty ? "\(status.code)" : "\(status.code) \(String(reflecting: status.message))"
    }
}
