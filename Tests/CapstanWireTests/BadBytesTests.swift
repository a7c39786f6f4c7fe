import CapstanAPI
import CapstanWire
import Testing

/// Bytes that are not a valid encoding give a typed `WireError`, never a crash.
@Suite struct BadBytesTests {
    /// A pod with every kind of nesting, for truncation.
    static func samplePod() -> Pod {
        var g = RandomValues(seed: 42)
        var pod = Pod.random(&g, depth: 4)
        pod.metadata.name = "web-1"
        pod.metadata.labels = ["app": "web", "tier": "frontend"]
        var container = Container()
        container.name = "nginx"
        container.ports = [ContainerPort()]
        pod.spec.containers.append(container)
        return pod
    }

    @Test func everyTruncationIsRejectedOrAValidPrefix() throws {
        let bytes = Self.samplePod().serializedBytes()
        #expect(bytes.count > 100)
        var rejected = 0
        for length in 0..<bytes.count {
            do {
                _ = try Pod(serializedBytes: Array(bytes[0..<length]))
            } catch {
                #expect(error.code == .malformed)
                rejected += 1
            }
        }
        // Cutting inside a field must fail; only cuts at top-level field boundaries can succeed.
        #expect(rejected > bytes.count / 2)
    }

    @Test func randomBytesNeverCrash() {
        var g = RandomValues(seed: 7)
        var outcomes = (decoded: 0, rejected: 0)
        for _ in 0..<5_000 {
            let bytes = (0..<g.int(0...200)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
            do {
                _ = try Pod(serializedBytes: bytes)
                _ = try Etcdserverpb_TxnRequest(serializedBytes: bytes)
                outcomes.decoded += 1
            } catch {
                outcomes.rejected += 1
            }
        }
        #expect(outcomes.rejected > 0)
    }

    @Test func oversizedLengthIsMalformed() {
        // Field 1 (metadata), length-delimited, claiming 2^35 bytes.
        let bytes: [UInt8] = [0x0A, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00]
        #expect(throws: WireError.self) { try Pod(serializedBytes: bytes) }
        // A length one past the end.
        #expect(throws: WireError.self) { try ObjectMeta(serializedBytes: [0x0A, 0x03, 0x61, 0x62]) }
    }

    @Test func overlongVarintIsMalformed() {
        // resource_version (field 4, varint) with an 11-byte varint.
        let bytes: [UInt8] = [0x20] + [UInt8](repeating: 0xFF, count: 10) + [0x01]
        #expect(throws: WireError.self) { try ObjectMeta(serializedBytes: bytes) }
    }

    @Test func wrongWireTypeIsMalformed() {
        // name (field 1, a string) sent as a varint.
        #expect(throws: WireError.self) { try ObjectMeta(serializedBytes: [0x08, 0x01]) }
        // resource_version (field 4, a varint) sent as length-delimited.
        #expect(throws: WireError.self) { try ObjectMeta(serializedBytes: [0x22, 0x01, 0x05]) }
    }

    @Test func invalidUTF8IsRejected() {
        // name = "\xFF\xFE"
        let error = #expect(throws: WireError.self) { try ObjectMeta(serializedBytes: [0x0A, 0x02, 0xFF, 0xFE]) }
        #expect(error?.code == .invalidUTF8)
    }

    @Test("text with more than 30 combining marks in a row is refused (not stream-safe); 30, other text and flags are fine")
    func combiningMarkRuns() throws {
        // Marks of two classes alternating: the worst case for canonical ordering.
        func marks(_ count: Int) -> String {
            String(String.UnicodeScalarView((0..<count).map { Unicode.Scalar($0 % 2 == 0 ? 0x301 : 0x316)! }))
        }
        func encoded(labelKey: String, annotation: String = "") -> [UInt8] {
            var meta = ObjectMeta()
            meta.name = "web"
            meta.labels = [labelKey: "v"]
            meta.annotations = ["note": annotation]
            return meta.serializedBytes()
        }
        let error = #expect(throws: WireError.self) { try ObjectMeta(serializedBytes: encoded(labelKey: "d" + marks(31))) }
        #expect(error?.message.contains("more than 30 combining marks in a row") == true)
        #expect(throws: WireError.self) { try ObjectMeta(serializedBytes: encoded(labelKey: "k", annotation: "é" + marks(100_000))) }
        // At the limit, runs broken by a starter, flags and other scripts decode as they are.
        let text = "d" + marks(30) + "a" + marks(30) + String(repeating: "🇺🇸", count: 1_000) + "日本語 Ελληνικά"
        let meta = try ObjectMeta(serializedBytes: encoded(labelKey: "d" + marks(30), annotation: text))
        #expect(meta.annotations["note"] == text)
        #expect(meta.labels.keys.first == "d" + marks(30))
    }

    @Test func unknownFieldsAreSkipped() throws {
        // Field 99 (varint 5), then name = "a".
        let bytes: [UInt8] = [0x98, 0x06, 0x05, 0x0A, 0x01, 0x61]
        let meta = try ObjectMeta(serializedBytes: bytes)
        #expect(meta.name == "a")
    }

    @Test func unknownEnumValuesSurvive() throws {
        var spec = PodSpec()
        spec.restartPolicy = RestartPolicy(rawValue: 77)
        let decoded = try PodSpec(serializedBytes: spec.serializedBytes())
        #expect(decoded.restartPolicy == .unrecognized(77))
        #expect(decoded.restartPolicy.rawValue == 77)
    }

    @Test func mapsEncodeInKeyOrder() {
        var a = ObjectMeta()
        var b = ObjectMeta()
        for i in 0..<50 { a.labels["k\(i)"] = "v\(i)" }
        for i in (0..<50).reversed() { b.labels["k\(i)"] = "v\(i)" }
        #expect(a.serializedBytes() == b.serializedBytes())
    }

    @Test func emptyOneofMembersKeepTheirCase() throws {
        var volume = Volume()
        volume.name = "scratch"
        volume.source = .emptyDir(EmptyDirVolume())
        let decoded = try Volume(serializedBytes: volume.serializedBytes())
        #expect(decoded.source == .emptyDir(EmptyDirVolume()))
        var op = Etcdserverpb_RequestOp()
        op.request = .requestRange(Etcdserverpb_RangeRequest())
        #expect(try Etcdserverpb_RequestOp(serializedBytes: op.serializedBytes()) == op)
    }

    @Test func largeValuesRoundTrip() throws {
        var kv = Mvccpb_KeyValue()
        kv.key = Array("/registry/pods/default/big".utf8)
        kv.value = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        #expect(try Mvccpb_KeyValue(serializedBytes: kv.serializedBytes()) == kv)
        var endpoints = Endpoints()
        endpoints.endpoints = (0..<10_000).map { "10.0.\($0 / 256).\($0 % 256):8080" }
        #expect(try Endpoints(serializedBytes: endpoints.serializedBytes()) == endpoints)
    }
}

/// Valid protobuf that protobuf-c would decode wrongly without a word is refused as
/// `unsupported`, naming the field (see `WireScan`).
@Suite struct UnsupportedBytesTests {
    @Test func nulInAString() throws {
        // name = "a\0b": protobuf-c would keep "a".
        let error = #expect(throws: WireError.self) { try ObjectMeta(serializedBytes: [0x0A, 0x03, 0x61, 0x00, 0x62]) }
        #expect(error?.code == .unsupported)
        #expect(error?.message.hasPrefix("name: a string holds a NUL byte (at offset 1 of 3)") == true, "\(String(describing: error))")
        // Deeper: a map value and a repeated string, with the path from the root.
        var pod = Pod()
        pod.metadata.name = "p"
        pod.metadata.annotations = ["note": "before#after"]
        let nested = pod.serializedBytes().map { $0 == UInt8(ascii: "#") ? 0 : $0 }
        let deep = #expect(throws: WireError.self) { try Pod(serializedBytes: nested) }
        #expect(deep?.message.hasPrefix("metadata.annotations[\"note\"].value: a string holds a NUL byte") == true, "\(String(describing: deep))")
        var container = Container()
        container.name = "c"
        container.command = ["sh", "-c#"]
        let command = container.serializedBytes().map { $0 == UInt8(ascii: "#") ? 0 : $0 }
        let inList = #expect(throws: WireError.self) { try Container(serializedBytes: command) }
        #expect(inList?.message.hasPrefix("command[1]: ") == true, "\(String(describing: inList))")
        // A map key is shown quoted and cut to 64 bytes: the path goes back in grpc-message.
        var longKey = Pod()
        longKey.metadata.annotations = [String(repeating: "k", count: 200) + "\"\\": "v#"]
        let long = longKey.serializedBytes().map { $0 == UInt8(ascii: "#") ? 0 : $0 }
        let cut = #expect(throws: WireError.self) { try Pod(serializedBytes: long) }
        #expect(cut?.message.hasPrefix("metadata.annotations[\"" + String(repeating: "k", count: 64) + "…\"].value: ") == true, "\(String(describing: cut))")
        var quotes = Pod()
        quotes.metadata.annotations = ["a\"b\\c": "v#"]
        let quoted = quotes.serializedBytes().map { $0 == UInt8(ascii: "#") ? 0 : $0 }
        let escaped = #expect(throws: WireError.self) { try Pod(serializedBytes: quoted) }
        #expect(escaped?.message.hasPrefix(#"metadata.annotations["a\"b\\c"].value: "#) == true, "\(String(describing: escaped))")
        // A repeated message's element: its index among the field's occurrences.
        var pod2 = Pod()
        pod2.metadata.name = "p"
        var first = Container()
        first.name = "a"
        first.command = ["x"]
        var second = Container()
        second.name = "b"
        second.command = ["ok", "y#"]
        pod2.spec.containers = [first, second]
        let inSecond = pod2.serializedBytes().map { $0 == UInt8(ascii: "#") ? 0 : $0 }
        let element = #expect(throws: WireError.self) { try Pod(serializedBytes: inSecond) }
        #expect(element?.message.hasPrefix("spec.containers[1].command[1]: ") == true, "\(String(describing: element))")
        // Bytes fields may hold NUL.
        var put = Etcdserverpb_PutRequest()
        put.value = [0, 1, 0]
        #expect(try Etcdserverpb_PutRequest(serializedBytes: put.serializedBytes()).value == [0, 1, 0])
    }

    /// Encoding cannot carry such a string either: `serializedBytes()` cuts it at the NUL, and
    /// `wholeSerializedBytes()` (what clients send) refuses it.
    @Test func nulInAStringToEncode() throws {
        var pod = Pod()
        pod.metadata.name = "p"
        pod.metadata.annotations = ["note": "before\u{0}after"]
        #expect(try Pod(serializedBytes: pod.serializedBytes()).metadata.annotations == ["note": "before"])
        let error = #expect(throws: WireError.self) { try pod.wholeSerializedBytes() }
        #expect(error?.code == .unsupported)
        #expect(error?.message.contains("holds a NUL byte") == true, "\(String(describing: error))")
        // The thread's arena is reused: the next message, without a NUL, encodes whole.
        pod.metadata.annotations = ["note": "before after"]
        #expect(try pod.wholeSerializedBytes() == pod.serializedBytes())
        var container = Container()
        container.command = ["sh", "\u{0}"]
        #expect(throws: WireError.self) { try container.wholeSerializedBytes() }
    }

    @Test func singularMessageTwice() throws {
        // metadata { resource_version: 5 } then metadata { name: "x" }: protobuf merges the two,
        // protobuf-c 1.4 kept only the second's fields.
        let twice: [UInt8] = [0x0A, 0x02, 0x20, 0x05, 0x0A, 0x03, 0x0A, 0x01, 0x78]
        let error = #expect(throws: WireError.self) { try Pod(serializedBytes: twice) }
        #expect(error?.code == .unsupported)
        #expect(error?.message.hasPrefix("metadata: this singular message field occurs more than once") == true, "\(String(describing: error))")
        // Two empty liveness probes in a container in a pod: protobuf-c failed these outright.
        let probes: [UInt8] = [0x12, 0x06, 0x0A, 0x04, 0x52, 0x00, 0x52, 0x00]
        let nested = #expect(throws: WireError.self) { try Pod(serializedBytes: probes) }
        #expect(nested?.message.hasPrefix("spec.containers[0].liveness_probe: ") == true, "\(String(describing: nested))")
        // A repeated message field may of course occur many times.
        var spec = PodSpec()
        spec.containers = [Container(), Container()]
        spec.containers[0].name = "a"
        spec.containers[1].name = "b"
        #expect(try PodSpec(serializedBytes: spec.serializedBytes()).containers.map(\.name) == ["a", "b"])
    }

    /// etcd's transactions nest (`RequestOp.request_txn` holds a `TxnRequest` holding
    /// `RequestOp`s): a peer could send nesting deep enough to overflow protobuf-c's recursion.
    @Test func deepNesting() throws {
        func nested(_ levels: Int) -> [UInt8] {
            var txn: [UInt8] = []
            for _ in 0..<levels {
                let op = [0x22] + varint(txn.count) + txn
                txn = [0x1A] + varint(op.count) + op
            }
            return txn
        }
        // 49 levels: 49 operations, each holding a transaction (the innermost one empty), in the
        // outer transaction: 99 messages deep. 50 levels are 101 deep.
        var depth = 0
        var txn = try Etcdserverpb_TxnRequest(serializedBytes: nested(49))
        while let op = txn.failure.first, case .requestTxn(let inner)? = op.request {
            depth += 1
            txn = inner
        }
        #expect(depth == 49)
        let error = #expect(throws: WireError.self) { try Etcdserverpb_TxnRequest(serializedBytes: nested(50)) }
        #expect(error?.code == .unsupported)
        #expect(error?.message.contains("messages are nested more than 100 deep") == true)
        // Deep enough to take protobuf-c's recursion near a thread's stack limit: refused at once.
        #expect(throws: WireError.self) { try Etcdserverpb_TxnRequest(serializedBytes: nested(5_000)) }
    }

    private func varint(_ value: Int) -> [UInt8] {
        var value = UInt64(value)
        var out: [UInt8] = []
        while value >= 0x80 {
            out.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        out.append(UInt8(value))
        return out
    }
}
