public import CapstanRPC

/// An interop test case whose peer did not behave as gRPC's interop descriptions require.
public struct InteropFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The case that failed.
    public let testCase: InteropTestCase
    /// What differed, e.g. `the UnaryCall response's payload body is 314158 bytes, expected 314159`.
    public let message: String
    /// The status a call ended with, when the failure is about a call's outcome.
    public let status: RPCStatus?

    public init(testCase: InteropTestCase, message: String, status: RPCStatus? = nil) {
        self.testCase = testCase
        self.message = message
        self.status = status
    }

    public var description: String { "interop test case \(testCase) failed: \(message)" }
}
