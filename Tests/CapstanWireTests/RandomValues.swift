import CapstanAPI
import CapstanWire

/// A message type the generated test support can fill with random contents.
protocol RandomMessage: ProtoMessage {
    static func random(_ g: inout RandomValues, depth: Int) -> Self
}

/// Every message type of the schemas (the wire module's index), for tests that cover them all.
enum AllMessageTypes {
    static let all: [any RandomMessage.Type] = CapstanFileDescriptors.messageTypes.map {
        guard let type = $0 as? any RandomMessage.Type else {
            preconditionFailure("\($0.protoMessageName) has no generated random(_:depth:); run make proto")
        }
        return type
    }
}

/// Seeded, reproducible random field values biased toward the edges: empty and non-ASCII strings,
/// extreme integers, empty and large repeated fields.
struct RandomValues {
    private var state: UInt64

    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    /// A stable seed from a name (FNV-1a), so each type gets its own reproducible sequence.
    static func seed(_ name: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        return h
    }

    /// SplitMix64.
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }

    mutating func bool() -> Bool { next() & 1 == 1 }

    static let strings = [
        "", "a", "default", "nginx:1.25", "héllo wörld", "日本語のテキスト", "🚀 launch 🛰️", "Ω≈ç√∫",
        "line\nbreak\ttab", "quote \" and \\ backslash", String(repeating: "long-", count: 300), "-",
    ]

    mutating func string() -> String {
        if int(0...3) == 0 {
            // Random printable ASCII and a few multi-byte scalars; never NUL (C strings end there).
            let scalars: [Character] = (0..<int(1...40)).map { _ in
                int(0...9) == 0 ? "é" : Character(Unicode.Scalar(UInt8(int(32...126))))
            }
            return String(scalars)
        }
        return Self.strings[int(0...(Self.strings.count - 1))]
    }

    mutating func bytes() -> [UInt8] {
        switch int(0...4) {
        case 0: []
        case 1: [0]
        case 2: (0..<int(1000...3000)).map { _ in UInt8(truncatingIfNeeded: next()) }
        default: (0..<int(1...64)).map { _ in UInt8(truncatingIfNeeded: next()) }
        }
    }

    private mutating func edge<T: FixedWidthInteger>(_ type: T.Type) -> T {
        switch int(0...7) {
        case 0: 0
        case 1: .max
        case 2: .min
        case 3: 1
        case 4: T.isSigned ? -1 : 2
        default: T(truncatingIfNeeded: next())
        }
    }

    mutating func int32() -> Int32 { edge(Int32.self) }
    mutating func int64() -> Int64 { edge(Int64.self) }
    mutating func uint32() -> UInt32 { edge(UInt32.self) }
    mutating func uint64() -> UInt64 { edge(UInt64.self) }

    /// Finite values that print exactly in JSON (so independent JSON codecs agree on them).
    mutating func double() -> Double {
        switch int(0...3) {
        case 0: 0
        case 1: Double(Int32.max) * 4
        default: Double(int(-100_000...100_000)) / 4
        }
    }

    mutating func float() -> Float { Float(int(-10_000...10_000)) / 4 }

    /// Seconds and nanos of a timestamp that has a JSON form (years 0001 to 9999).
    mutating func timestamp() -> (Int64, Int32) {
        switch int(0...3) {
        case 0: (0, 0)
        case 1: (-62_135_596_800, 0)
        case 2: (253_402_300_799, 999_999_999)
        default: (Int64(int(-62_135_596_800...253_402_300_799)), Int32(int(0...999_999_999)))
        }
    }

    /// Seconds and nanos of a duration that has a JSON form (same signs, within ±10,000 years).
    mutating func duration() -> (Int64, Int32) {
        let seconds = Int64(int(0...315_576_000_000))
        let nanos = Int32(int(0...999_999_999))
        return bool() ? (seconds, nanos) : (-seconds, -nanos)
    }

    /// A known case, or now and then a number the schema does not know.
    mutating func enumValue<E: ProtoEnum>(_ type: E.Type) -> E {
        if int(0...5) == 0 { return E(rawValue: Int32(int(1000...100_000))) }
        return E.allCases[int(0...(E.allCases.count - 1))]
    }

    mutating func array<T>(large: Bool, _ make: (inout RandomValues) -> T) -> [T] {
        let count = switch int(0...9) {
        case 0, 1, 2: 0
        case 9 where large: int(100...300)
        default: int(1...3)
        }
        var result: [T] = []
        for _ in 0..<count { result.append(make(&self)) }
        return result
    }

    mutating func map<K: Hashable, V>(key: (inout RandomValues) -> K, value: (inout RandomValues) -> V) -> [K: V] {
        var result: [K: V] = [:]
        for _ in 0..<int(0...4) {
            let k = key(&self)
            result[k] = value(&self)
        }
        return result
    }
}
