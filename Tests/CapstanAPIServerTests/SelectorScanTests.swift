@testable import CapstanAPIServer
import CapstanAPI
import CapstanTestSupport
import CapstanWire
import Testing

/// The watch cache's selector fields read straight from stored bytes (`SelectorScan`) against a
/// full decode: the same answer for every object the server stores, nil (so the caller decodes)
/// for every other shape, and never a different answer for bytes that decode.
@Suite("Selector fields from stored bytes")
struct SelectorScanTests {
    static let phases: [PodPhase] = PodPhase.allCases
    static let texts = ["", "a", "web-1", "ünïcode ✓", "x.y/z", String(repeating: "long", count: 40)]

    static func randomPod(_ random: inout SplitMix) -> Pod {
        var pod = Pod()
        if random.next() % 5 != 0 {
            pod.metadata.name = texts.randomElement(using: &random)!
            pod.metadata.namespace = texts.randomElement(using: &random)!
        }
        for index in 0..<Int(random.next() % 4) {
            let key = "k\(index)-" + texts.randomElement(using: &random)!
            pod.metadata.labels[key] = texts.randomElement(using: &random)!
        }
        if random.next() % 2 == 0 { pod.metadata.annotations["note"] = texts.randomElement(using: &random)! }
        pod.metadata.uid = "4b8e1d2c-0000-4000-8000-000000000000"
        if random.next() % 3 != 0 { pod.spec.host = texts.randomElement(using: &random)! }
        if random.next() % 2 == 0 {
            var container = Container()
            container.name = "c"
            container.image = "nginx"
            pod.spec.containers = [container]
        }
        if random.next() % 3 != 0 { pod.status.phase = phases.randomElement(using: &random)! }
        if random.next() % 4 == 0 { pod.status.hostIp = "10.0.0.1" }
        return pod
    }

    static func randomMinion(_ random: inout SplitMix) -> Minion {
        var minion = Minion()
        minion.metadata.name = texts.randomElement(using: &random)!
        if random.next() % 2 == 0 { minion.metadata.labels["zone"] = texts.randomElement(using: &random)! }
        minion.spec.unschedulable = random.next() % 2 == 0
        return minion
    }

    /// The scan of `bytes` against the full decode's fields; nil when they do not decode.
    static func compare<Strategy: KindStrategy>(_ strategy: Strategy.Type, _ bytes: [UInt8]) -> (
        scanned: SelectorFields?, decoded: SelectorFields
    )? {
        guard let object = try? Strategy.Object(serializedBytes: bytes) else { return nil }
        return (
            Strategy.selectorScan.fields(bytes),
            SelectorFields(of: object)
        )
    }

    @Test("objects as the server stores them scan to what their decode gives")
    func storedObjects() {
        var random = SplitMix(state: 0x5ca1ab1e)
        for _ in 0..<500 {
            let pod = Self.randomPod(&random)
            let pods = Self.compare(PodStrategy.self, pod.serializedBytes())
            #expect(pods != nil && pods?.scanned == pods?.decoded, "\(pod)")
            let minion = Self.randomMinion(&random)
            let minions = Self.compare(MinionStrategy.self, minion.serializedBytes())
            #expect(minions != nil && minions?.scanned == minions?.decoded, "\(minion)")
        }
        var service = Service()
        service.metadata.name = "web"
        service.metadata.namespace = "default"
        service.metadata.labels = ["app": "web"]
        let services = Self.compare(ServiceStrategy.self, service.serializedBytes())
        #expect(services != nil && services?.scanned == services?.decoded)
        // An empty object: no metadata at all, and an unset phase shown as pending.
        let empty = PodStrategy.selectorScan.fields([])
        #expect(empty == SelectorFields(labels: [:], fields: Pod().selectableFieldValues))
        #expect(empty?.fields["status.phase"] == PodPhase.selectorValue(.pending))
    }

    /// A kind whose selectable fields grow must grow its scan too (`KindStrategy.selectorScan`):
    /// every kind's scan of an object with each of them set must read what its decode does.
    @Test("every cached kind's scan reads the fields its decode does")
    func everyKind() {
        func check<Strategy: KindStrategy>(_ strategy: Strategy.Type, _ object: Strategy.Object) {
            let compared = Self.compare(strategy, object.serializedBytes())
            #expect(compared != nil && compared?.scanned == compared?.decoded, "\(Strategy.kind)")
            let names = Strategy.Object.fieldSchema.names.sorted()
            #expect(compared?.scanned?.fields.fields.map(\.name).sorted() == names, "\(Strategy.kind)")
        }
        var pod = Pod()
        pod.spec.host = "m1"
        pod.status.phase = .running
        check(PodStrategy.self, pod)
        var minion = Minion()
        minion.spec.unschedulable = true
        check(MinionStrategy.self, minion)
        check(ServiceStrategy.self, Service())
        check(ReplicationControllerStrategy.self, ReplicationController())
        check(EndpointsStrategy.self, Endpoints())
    }

    @Test("other shapes are left to the full decode")
    func otherShapes() {
        let scan = PodStrategy.selectorScan
        var pod = Pod()
        pod.metadata.name = "web"
        pod.metadata.labels = ["app": "web"]
        let bytes = pod.serializedBytes()
        #expect(scan.fields(bytes) != nil)
        // Metadata twice (a decoder merges the two).
        #expect(scan.fields(bytes + bytes) == nil)
        // A label key twice.
        var twice: [UInt8] = []
        var metadata: [UInt8] = []
        var entry: [UInt8] = []
        ProtoBytes.appendBytesField(1, Array("app".utf8), to: &entry)
        ProtoBytes.appendBytesField(2, Array("web".utf8), to: &entry)
        ProtoBytes.appendBytesField(6, entry, to: &metadata)
        ProtoBytes.appendBytesField(6, entry, to: &metadata)
        ProtoBytes.appendBytesField(1, metadata, to: &twice)
        #expect(scan.fields(twice) == nil)
        // A bool whose ten-byte varint sets only bits past 63: protobuf-c reads it as true.
        let overlong: [UInt8] = [0x12, 0x0B, 0x20] + Array(repeating: 0x80, count: 9) + [0x02]
        let overlongMinion = Self.compare(MinionStrategy.self, overlong)
        #expect(overlongMinion != nil && overlongMinion?.decoded.fields["spec.unschedulable"] == "true")
        #expect(MinionStrategy.selectorScan.fields(overlong) == nil)
        // A NUL byte or invalid UTF-8 in a string.
        for name in [[0x77, 0x00, 0x65], [0x77, 0xff]] as [[UInt8]] {
            var meta: [UInt8] = []
            ProtoBytes.appendBytesField(1, name, to: &meta)
            var object: [UInt8] = []
            ProtoBytes.appendBytesField(1, meta, to: &object)
            #expect(scan.fields(object) == nil)
        }
        // A phase the schema does not know; a bool that is neither 0 nor 1.
        var status: [UInt8] = []
        ProtoBytes.appendVarintField(1, 42, to: &status)
        var unknownPhase: [UInt8] = []
        ProtoBytes.appendBytesField(3, status, to: &unknownPhase)
        #expect(scan.fields(unknownPhase) == nil)
        var spec: [UInt8] = []
        ProtoBytes.appendVarintField(4, 2, to: &spec)
        var minion: [UInt8] = []
        ProtoBytes.appendBytesField(2, spec, to: &minion)
        #expect(MinionStrategy.selectorScan.fields(minion) == nil)
        // Metadata with a varint's wire type; a truncated encoding.
        #expect(scan.fields([0x08, 0x01]) == nil)
        #expect(scan.fields(Array(bytes.dropLast())) == nil)
    }

    @Test("damaged encodings never scan to something other than what they decode to")
    func damagedEncodings() {
        var random = SplitMix(state: 0xdeadbeef)
        var scannedAndDecoded = 0
        for _ in 0..<300 {
            let original = Self.randomPod(&random).serializedBytes()
            for _ in 0..<20 {
                var bytes = original
                for _ in 0...(random.next() % 3) {
                    guard !bytes.isEmpty else { break }
                    let index = Int(random.next() % UInt64(bytes.count))
                    switch random.next() % 4 {
                    case 0: bytes[index] = UInt8(truncatingIfNeeded: random.next())
                    case 1: bytes.remove(at: index)
                    case 2: bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: index)
                    default: bytes = Array(bytes[..<index])
                    }
                }
                guard let (scanned, decoded) = Self.compare(PodStrategy.self, bytes), let scanned else { continue }
                scannedAndDecoded += 1
                #expect(scanned == decoded, "bytes \(bytes)")
            }
        }
        // The property was exercised, not skipped.
        #expect(scannedAndDecoded > 100)
    }
}
