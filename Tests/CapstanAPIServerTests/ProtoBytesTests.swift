@testable import CapstanAPIServer
import CapstanAPI
import CapstanWire
import Testing

/// Setting the resource version in stored bytes: the one-copy path for objects as the server
/// stores them, and the general path for every other shape, against the generated types.
@Suite("Resource version splicing")
struct ProtoBytesTests {
    static func pod(resourceVersion: UInt64 = 0) -> Pod {
        var pod = Pod()
        pod.metadata.name = "web"
        pod.metadata.namespace = "default"
        pod.metadata.labels = ["app": "web", "tier": "front"]
        pod.metadata.uid = "4b8e1d2c-0000-4000-8000-000000000000"
        pod.metadata.resourceVersion = resourceVersion
        pod.metadata.creationTimestamp.seconds = 1_764_000_000
        var container = Container()
        container.name = "web"
        container.image = "nginx:1.25"
        pod.spec.containers = [container]
        pod.spec.host = "m1"
        pod.status.phase = .running
        return pod
    }

    static func withVersion(_ pod: Pod, _ revision: Int64) -> Pod {
        var pod = pod
        pod.metadata.resourceVersion = UInt64(revision)
        return pod
    }

    @Test("a stored object (metadata first, no resource version) gets it in one splice", arguments: [1, 127, 128, 1 << 40] as [Int64])
    func storedShape(revision: Int64) throws {
        let pod = Self.pod()
        let stored = pod.serializedBytes()
        let answered = try ProtoBytes.object(stored, withResourceVersion: revision)
        #expect(try Pod(serializedBytes: answered) == Self.withVersion(pod, revision))
        // The stored bytes are copied as they are, with the version appended inside metadata.
        let fields = try ProtoBytes.fields(of: stored[...])
        let metadata = try #require(fields.first)
        #expect(metadata.number == 1)
        var inner = Array(stored[metadata.payload])
        ProtoBytes.appendVarintField(4, UInt64(revision), to: &inner)
        var expected: [UInt8] = []
        ProtoBytes.appendBytesField(1, inner, to: &expected)
        expected += stored[metadata.whole.upperBound...]
        #expect(answered == expected)
    }

    @Test("an object that already has a resource version gets the new one only")
    func replacesVersion() throws {
        let pod = Self.pod(resourceVersion: 99)
        let answered = try ProtoBytes.object(pod.serializedBytes(), withResourceVersion: 7)
        #expect(try Pod(serializedBytes: answered) == Self.withVersion(pod, 7))
    }

    @Test("metadata after other fields, or split in two, is merged and written first")
    func unusualShapes() throws {
        let pod = Self.pod()
        let fields = try ProtoBytes.fields(of: pod.serializedBytes()[...])
        let bytes = pod.serializedBytes()
        let metadataField = try #require(fields.first { $0.number == 1 })
        // Spec and status first, then metadata.
        var reordered: [UInt8] = []
        for field in fields where field.number != 1 { reordered += bytes[field.whole] }
        reordered += bytes[metadataField.whole]
        let fromReordered = try ProtoBytes.object(reordered, withResourceVersion: 12)
        #expect(try Pod(serializedBytes: fromReordered) == Self.withVersion(pod, 12))
        #expect(fromReordered.first == 0x0a)
        // Metadata in two parts (protobuf merges them): name in one, the rest in the other.
        var nameOnly = ObjectMeta()
        nameOnly.name = "web"
        var rest = pod.metadata
        rest.name = ""
        var split: [UInt8] = []
        ProtoBytes.appendBytesField(1, nameOnly.serializedBytes(), to: &split)
        for field in fields where field.number != 1 { split += bytes[field.whole] }
        ProtoBytes.appendBytesField(1, rest.serializedBytes(), to: &split)
        #expect(try Pod(serializedBytes: ProtoBytes.object(split, withResourceVersion: 13)) == Self.withVersion(pod, 13))
    }

    @Test("malformed bytes are refused on either path")
    func malformed() {
        #expect(throws: ProtoBytes.Malformed.self) { try ProtoBytes.object([0x0a, 0x05, 0x01], withResourceVersion: 1) }
        #expect(throws: ProtoBytes.Malformed.self) { try ProtoBytes.object([0x0a, 0x02, 0x08], withResourceVersion: 1) }
        #expect(throws: ProtoBytes.Malformed.self) { try ProtoBytes.object([0x0a, 0x00, 0x12, 0x09, 0x00], withResourceVersion: 1) }
        #expect(throws: ProtoBytes.Malformed.self) { try ProtoBytes.object([0x0a, 0x00, 0x00], withResourceVersion: 1) }
    }
}
