@testable import CapstanHTTP2
import CapstanAPI
import CapstanRPC
import CapstanWire
import Testing

@Suite("Bounded statuses in trailers")
struct GRPCStatusDetailsTests {
    @Test("a long message is cut on a character boundary, its encoding within the limit, with a note")
    func messageCut() {
        let message = String(repeating: "日本a", count: 1000)
        let cut = GRPCStatusMessage.truncated(message, maxEncodedCount: 200)
        #expect(GRPCStatusMessage.encode(cut).utf8.count <= 200)
        let kept = String(cut[..<cut.lastIndex(of: "…")!])
        #expect(message.hasPrefix(kept))
        #expect(kept.utf8.count > 40)
        #expect(cut.hasSuffix("… (\(message.utf8.count - kept.utf8.count) more bytes)"))
        // What fits is left alone, even at the limit exactly.
        let fits = String(repeating: "é", count: 100)
        #expect(GRPCStatusMessage.truncated(fits, maxEncodedCount: 600) == fits)
        #expect(GRPCStatusMessage.truncated("short", maxEncodedCount: 200) == "short")
    }

    @Test("details that fit are sent as they are; opaque bytes too long are dropped")
    func detailsUnchangedOrDropped() {
        let small: [UInt8] = [8, 3, 18, 2, 104, 105]
        #expect(GRPCStatusDetails.bounded(small, message: "hi", sentMessage: "hi", limit: 100) == small)
        let opaque = [UInt8](repeating: 0xFF, count: 200)
        #expect(GRPCStatusDetails.bounded(opaque, message: "m", sentMessage: "m", limit: 100) == nil)
        #expect(GRPCStatusDetails.bounded(opaque, message: "m", sentMessage: "m", limit: 300) == opaque)
    }

    @Test("a cut message is also the details' message, even when the details fit")
    func detailsFollowTheCutMessage() throws {
        var status = Google_Rpc_Status()
        status.code = 3
        status.message = "long message"
        let bounded = try #require(GRPCStatusDetails.bounded(
            status.serializedBytes(), message: "long message", sentMessage: "long… (4 more bytes)", limit: 100))
        let decoded = try Google_Rpc_Status(serializedBytes: bounded)
        #expect(decoded.code == 3)
        #expect(decoded.message == "long… (4 more bytes)")
    }

    @Test("a huge status's trailers-only block stays under 8 KiB as metadata limits count it")
    func trailerBlockSize() {
        let error = HTTP2OversizedHeadersTests.hugeError
        let fields = GRPCResponseHeaders.trailersOnly(
            status: RPCStatus(code: error.code, message: error.message), details: error.details, metadata: Metadata())
        let size = fields.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 32 }
        #expect(size < 7_680)
        #expect(fields.first { $0.name == "grpc-status" }?.value == String(RPCCode.invalidArgument.rawValue))
    }
}
