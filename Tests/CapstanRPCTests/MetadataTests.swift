import CapstanRPC
import Testing

@Suite("Metadata")
struct MetadataTests {
    @Test("keys are case-insensitive and stored lowercase; values keep order")
    func caseAndOrder() throws {
        var metadata = Metadata()
        try metadata.add("X-Trace", "a")
        try metadata.add("x-trace", "b")
        try metadata.add("X-Blob-Bin", binary: [0, 255])
        #expect(metadata.map(\.key) == ["x-trace", "x-trace", "x-blob-bin"])
        #expect(metadata["X-TRACE"] == [.string("a"), .string("b")])
        #expect(metadata.first("x-trace") == "a")
        #expect(metadata.firstBinary("x-blob-bin") == [0, 255])
        metadata.removeAll("X-Trace")
        #expect(metadata.count == 1)
    }

    @Test("invalid key characters are rejected", arguments: ["x token", "x@y", "", "ключ", "a/b"])
    func invalidKeys(key: String) {
        var metadata = Metadata()
        #expect(throws: RPCError.self) { try metadata.add(key, "v") }
        #expect(metadata.isEmpty)
    }

    @Test("reserved keys are rejected with a clear error",
          arguments: ["grpc-timeout", "GRPC-status", ":path", "content-type", "te", "connection"])
    func reservedKeys(key: String) {
        var metadata = Metadata()
        do {
            try metadata.add(key, "v")
            Issue.record("\(key) was accepted")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("reserved") || error.message.contains("pseudo-header"))
        }
    }

    @Test("-bin keys hold bytes, other keys printable ASCII")
    func binaryRules() {
        var metadata = Metadata()
        #expect(throws: RPCError.self) { try metadata.add("x-blob", binary: [1]) }
        #expect(throws: RPCError.self) { try metadata.add("x-blob-bin", "text") }
        #expect(throws: RPCError.self) { try metadata.add("x-text", "line\nbreak") }
        #expect(throws: RPCError.self) { try metadata.add("x-text", "café") }
        #expect(metadata.isEmpty)
    }

    @Test("literals and merge")
    func literalsAndMerge() {
        var metadata: Metadata = ["x-a": "1", "x-b-bin": .binary([7])]
        metadata.merge(["x-a": "2"])
        #expect(metadata["x-a"] == [.string("1"), .string("2")])
        #expect(metadata.firstBinary("x-b-bin") == [7])
    }
}
