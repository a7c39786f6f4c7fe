import CapstanAPI
import CapstanWire
import Foundation
import Testing

/// Swift → C → bytes → C → Swift, and Swift → JSON → Swift, for every message type of every schema.
@Suite struct RoundTripTests {
    static let iterations = 40

    @Test(arguments: AllMessageTypes.all.map(TypeCase.init))
    func binaryRoundTrip(_ type: TypeCase) throws {
        try Self.check(type.type)
    }

    private static func check<M: RandomMessage>(_ type: M.Type) throws {
        guard let wireType = M.self as? any WireMessage.Type else {
            Issue.record("\(M.protoMessageName) is not a WireMessage")
            return
        }
        try checkBinary(wireType, M.self)
    }

    private static func checkBinary<W: WireMessage, M: RandomMessage>(_ wire: W.Type, _ type: M.Type) throws {
        var g = RandomValues(seed: RandomValues.seed(M.protoMessageName))
        for i in 0..<iterations {
            let value = M.random(&g, depth: 4) as! W
            let bytes = value.serializedBytes()
            let decoded = try W(serializedBytes: bytes)
            #expect(decoded == value, "\(M.protoMessageName) #\(i) changed in a binary round trip")
            #expect(decoded.serializedBytes() == bytes, "\(M.protoMessageName) #\(i) re-encodes differently")
        }
    }

    @Test(arguments: AllMessageTypes.all.map(TypeCase.init))
    func jsonRoundTrip(_ type: TypeCase) throws {
        try Self.checkJSON(type.type)
    }

    private static func checkJSON<M: RandomMessage>(_ type: M.Type) throws {
        var g = RandomValues(seed: RandomValues.seed(M.protoMessageName) &+ 1)
        let encoder = JSONEncoder()
        let decoder = JSONDecoder()
        for i in 0..<iterations {
            let value = M.random(&g, depth: 4)
            let json = try encoder.encode(value)
            let decoded = try decoder.decode(M.self, from: json)
            #expect(decoded == value, "\(M.protoMessageName) #\(i) changed in a JSON round trip: \(String(decoding: json, as: UTF8.self).prefix(400))")
        }
    }

    @Test func defaultMessageEncodesToNothing() throws {
        #expect(Pod().serializedBytes().isEmpty)
        #expect(try Pod(serializedBytes: [UInt8]()) == Pod())
        let json = String(decoding: try JSONEncoder().encode(Pod()), as: UTF8.self)
        #expect(json == "{}")
    }
}

/// A message type as a test argument.
struct TypeCase: CustomTestStringConvertible, Sendable {
    let type: any RandomMessage.Type
    init(_ type: any RandomMessage.Type) { self.type = type }
    var testDescription: String { type.protoMessageName }
}
