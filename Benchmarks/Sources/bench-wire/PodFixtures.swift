import CapstanAPI
import CapstanWire
import SwiftProtobuf
import SwiftProtobufPod

/// Why the two libraries disagree about the typical Pod.
struct MismatchError: Error, CustomStringConvertible {
    var description: String
}

/// The typical Pod in both representations, checked to be the same content on the wire, and the
/// Capstan encoding both decoders read in the benchmark.
struct PodFixtures {
    var capstan: Pod
    var swiftProtobuf: Capstan_V1_Pod
    var capstanBytes: [UInt8]
    var swiftProtobufBytes: [UInt8]

    /// Builds both and checks, in the order a reader would: Capstan round-trips itself; Capstan's
    /// bytes decode in swift-protobuf to the independently built message; swift-protobuf's
    /// re-encoding of that decodes in Capstan to the original value (so both libraries encode and
    /// decode the same content and the benchmark compares like with like).
    init(_ typical: TypicalPod) throws {
        capstan = Pod(typical)
        swiftProtobuf = Capstan_V1_Pod(typical)
        capstanBytes = capstan.serializedBytes()

        let selfDecoded = try Pod(serializedBytes: capstanBytes)
        guard selfDecoded == capstan else {
            throw MismatchError(description: "Capstan: decode(encode(pod)) differs from pod")
        }
        let foreign = try Capstan_V1_Pod(serializedBytes: capstanBytes)
        guard foreign == swiftProtobuf else {
            throw MismatchError(
                description: "swift-protobuf decoded Capstan's bytes to a different Pod:\n\(foreign.textFormatString())")
        }
        swiftProtobufBytes = try foreign.serializedBytes()
        let back = try Pod(serializedBytes: swiftProtobufBytes)
        guard back == capstan else {
            throw MismatchError(description: "Capstan decoded swift-protobuf's re-encoding to a different Pod")
        }
        // Map entries may come in another order, so compare sizes rather than bytes.
        guard swiftProtobufBytes.count == capstanBytes.count else {
            throw MismatchError(
                description: "encoded sizes differ: Capstan \(capstanBytes.count) B, swift-protobuf \(swiftProtobufBytes.count) B")
        }
    }

    /// Encode and decode with each library. Both decoders read the same (Capstan-encoded) bytes.
    var cases: [BenchCase] {
        let capstan = self.capstan
        let swiftProtobuf = self.swiftProtobuf
        let bytes = self.capstanBytes
        return [
            BenchCase(name: "capstan encode", encodedSize: bytes.count) { n in
                for _ in 0..<n { blackHole(capstan.serializedBytes()) }
            },
            BenchCase(name: "swift-protobuf encode [UInt8]", encodedSize: bytes.count) { n in
                for _ in 0..<n {
                    let out: [UInt8] = try swiftProtobuf.serializedBytes()
                    blackHole(out)
                }
            },
            BenchCase(name: "swift-protobuf encode Data", encodedSize: bytes.count) { n in
                for _ in 0..<n { blackHole(try swiftProtobuf.serializedData()) }
            },
            BenchCase(name: "capstan decode", encodedSize: bytes.count) { n in
                for _ in 0..<n { blackHole(try Pod(serializedBytes: bytes)) }
            },
            BenchCase(name: "swift-protobuf decode", encodedSize: bytes.count) { n in
                for _ in 0..<n { blackHole(try Capstan_V1_Pod(serializedBytes: bytes)) }
            },
        ]
    }
}
