import CapstanRPC
import Testing

@Suite("Status and errors")
struct StatusTests {
    @Test("the 17 codes carry gRPC's numbers and names")
    func codes() {
        #expect(RPCCode.allCases.count == 17)
        #expect(RPCCode.allCases.map(\.rawValue) == Array(0...16))
        #expect(RPCCode.deadlineExceeded.description == "DEADLINE_EXCEEDED")
        #expect(RPCCode.internal.rawValue == 13)
        #expect(RPCCode.unauthenticated.rawValue == 16)
        #expect(RPCCode(wireValue: 99) == .unknown)
    }

    @Test("CancellationError converts to CANCELLED")
    func cancellation() {
        #expect(RPCError(converting: CancellationError()).code == .cancelled)
    }

    @Test("RPCErrorConvertible, RPCError and other errors convert")
    func conversion() {
        struct Conflict: RPCErrorConvertible {
            var rpcError: RPCError { RPCError(code: .aborted, message: "expected 3, current 4") }
        }
        struct Opaque: Error {}
        #expect(RPCError(converting: Conflict()) == RPCError(code: .aborted, message: "expected 3, current 4"))
        let original = RPCError(code: .notFound, message: "pod default/web", details: [1, 2])
        #expect(RPCError(converting: original) == original)
        #expect(RPCError(converting: Opaque()).code == .unknown)
        #expect(original.description == "NOT_FOUND: pod default/web")
    }
}
