@testable import CapstanHTTP2
import CapstanRPC
import Testing

@Suite("metadata ⇄ header fields")
struct GRPCMetadataHeadersTests {
    private static func field(_ name: String, _ value: String) -> HeaderField {
        HeaderField(name: name, value: value)
    }

    @Test func encodesInOrderWithUnpaddedBase64() throws {
        var metadata = Metadata()
        try metadata.add("x-a", "1")
        try metadata.add("x-bytes-bin", binary: [0xDE, 0xAD, 0xBE, 0xEF])
        try metadata.add("x-a", "2")
        try metadata.add("x-empty-bin", binary: [])
        #expect(GRPCMetadataHeaders.encode(metadata) == [
            Self.field("x-a", "1"), Self.field("x-bytes-bin", "3q2+7w"), Self.field("x-a", "2"),
            Self.field("x-empty-bin", ""),
        ])
    }

    @Test func roundTrip() throws {
        var metadata = Metadata()
        try metadata.add("authorization", "Bearer abc.def")
        for count in 0..<8 { try metadata.add("blob-bin", binary: (0..<count).map { UInt8(255 - $0) }) }
        try metadata.add("x.y_z", " spaced ")
        #expect(try GRPCMetadataHeaders.decode(GRPCMetadataHeaders.encode(metadata)) == metadata)
    }

    @Test(arguments: [
        ":method", ":path", ":authority", ":status", "content-type", "te", "user-agent", "grpc-timeout",
        "grpc-encoding", "grpc-accept-encoding", "grpc-status", "grpc-message", "grpc-status-details-bin",
        "grpc-message-type", "grpc-previous-rpc-attempts", "grpc-trace-bin", "host", "connection",
    ])
    func skipsPseudoAndTransportHeaders(name: String) throws {
        let metadata = try GRPCMetadataHeaders.decode([Self.field(name, "AQ"), Self.field("x-kept", "yes")])
        #expect(metadata == ["x-kept": "yes"])
    }

    @Test func binaryValuesMayBePaddedOrUnpadded() throws {
        let metadata = try GRPCMetadataHeaders.decode([
            Self.field("a-bin", "AQI="), Self.field("b-bin", "AQI"), Self.field("c-bin", "AQ=="), Self.field("d-bin", ""),
        ])
        #expect(metadata.firstBinary("a-bin") == [1, 2])
        #expect(metadata.firstBinary("b-bin") == [1, 2])
        #expect(metadata.firstBinary("c-bin") == [1])
        #expect(metadata.firstBinary("d-bin") == [])
    }

    @Test func commaSeparatedBinaryValueIsSeveralValues() throws {
        let metadata = try GRPCMetadataHeaders.decode([Self.field("x-bin", "AQ==,AgM, BA")])
        #expect(metadata["x-bin"] == [.binary([1]), .binary([2, 3]), .binary([4])])
    }

    @Test func commasInASCIIValuesAreKept() throws {
        let metadata = try GRPCMetadataHeaders.decode([Self.field("accept", "a, b")])
        #expect(metadata["accept"] == [.string("a, b")])
    }

    @Test(arguments: ["!!", "A", "AQ==AQ", "AQ,!", "\u{00E9}"])
    func invalidBase64IsInternal(value: String) {
        #expect {
            _ = try GRPCMetadataHeaders.decode([Self.field("x-bin", value)])
        } throws: { error in
            (error as? RPCError)?.code == .internal && (error as? RPCError)?.message.contains("x-bin") == true
        }
    }

    @Test func invalidButHTTPValidFieldsAreDroppedNotFatal() throws {
        let metadata = try GRPCMetadataHeaders.decode([
            Self.field("x-latin", "caf\u{00E9}"),
            Self.field("x-tab", "a\tb"),
            Self.field("x~tilde", "v"),
            Self.field("X-Upper", "v"),
            Self.field("x-ok", "v"),
        ])
        #expect(metadata == ["x-ok": "v"])
    }
}
