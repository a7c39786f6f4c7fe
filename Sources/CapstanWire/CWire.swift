package import CCapstanProto
internal import CProtobufC
package import CapstanAPI

/// The bridge between generated Swift values and protobuf-c's structs. This file and `Arena.swift`
/// hold the module's hand-written pointer code; generated `*.wire.swift` files call only these.
///
/// Encoding fills a tree of C structs allocated from one arena, asks protobuf-c for the packed size,
/// packs into a Swift array and empties the arena. Decoding has protobuf-c unpack into an arena
/// (its allocator never frees piecemeal), copies the tree into Swift values and empties the arena.
/// The arena is the calling thread's cached one (`Arena.take`), so a call allocates no chunks.
/// No C pointer outlives the call that made it. These declarations are `package`-visible so that
/// generated wire code in other modules of the package (the interop program's) can use them.

/// A generated message that knows its protobuf-c struct.
package protocol CMessage: WireMessage {
    associatedtype CStruct
    /// protoc-c's `<name>__init`.
    static func cInit(_ c: UnsafeMutablePointer<CStruct>)
    /// The address of protoc-c's `ProtobufCMessageDescriptor` for the type.
    static var cDescriptorAddress: UInt { get }
    /// Writes every field into an initialised struct; all memory comes from `arena`.
    func cFill(_ c: UnsafeMutablePointer<CStruct>, _ arena: Arena)
    /// Copies a struct that protobuf-c unpacked.
    init(cMessage c: UnsafePointer<CStruct>) throws(WireError)
}

package enum CWire {
    /// The binary encoding; a string holding a NUL byte is cut there (see `encodeWhole`).
    package static func encode<M: CMessage>(_ message: M) -> [UInt8] {
        // The thread's cached arena (grown to what earlier encodes needed): no chunk is allocated,
        // where a fresh arena took several, the bigger ones through glibc's large-request path
        // (which also consolidates the allocator's fast bins).
        let arena = Arena.take(minimumCapacity: 512)
        defer { arena.giveBack() }
        return pack(arena.message(message))
    }

    /// The binary encoding, or `unsupported` when a string holds a NUL byte: protobuf-c encodes
    /// strings as C strings, so it would be cut there without a word (decoding refuses such a
    /// string for the same reason, see `WireScan`).
    package static func encodeWhole<M: CMessage>(_ message: M) throws(WireError) -> [UInt8] {
        let arena = Arena.take(minimumCapacity: 512)
        defer { arena.giveBack() }
        let c = arena.message(message)
        if arena.cutString {
            throw WireError(
                .unsupported,
                "a string in the \(M.protoMessageName) holds a NUL byte (U+0000), which Capstan's protobuf encoding cannot carry")
        }
        return pack(c)
    }

    private static func pack<S>(_ c: UnsafeMutablePointer<S>) -> [UInt8] {
        let base = UnsafeMutableRawPointer(c).assumingMemoryBound(to: ProtobufCMessage.self)
        let size = protobuf_c_message_get_packed_size(base)
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            count = size == 0 ? 0 : protobuf_c_message_pack(base, buffer.baseAddress)
        }
    }

    package static func decode<M: CMessage>(_ type: M.Type, _ bytes: UnsafeRawBufferPointer) throws(WireError) -> M {
        let arena = Arena.take(minimumCapacity: bytes.count * 2 + 512)
        defer { arena.giveBack() }
        guard let descriptor = UnsafePointer<ProtobufCMessageDescriptor>(bitPattern: M.cDescriptorAddress) else {
            preconditionFailure("no protobuf-c descriptor for \(M.protoMessageName)")
        }
        try WireScan.check(bytes, descriptor)
        let data = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
        guard let unpacked = protobuf_c_message_unpack(descriptor, arena.allocator, bytes.count, data) else {
            throw WireError(.malformed, "\(bytes.count) bytes are not a valid \(M.protoMessageName)")
        }
        return try M(cMessage: UnsafeRawPointer(unpacked).assumingMemoryBound(to: M.CStruct.self))
    }

    // MARK: - C → Swift

    package static func string(_ p: UnsafePointer<CChar>?) throws(WireError) -> String {
        guard let p else { return "" }
        if p.pointee == 0 { return "" }
        guard let s = String(validatingCString: p) else {
            throw WireError(.invalidUTF8, "a string field is not valid UTF-8")
        }
        if s.utf8.contains(where: { $0 >= 0x80 }) { try checkStreamSafe(s) }
        return s
    }

    /// Most combining marks (non-starters) in a row: Unicode's stream-safe text format (UAX #15).
    package static let maxNonStarters = 30

    /// Refuses text with more than `maxNonStarters` combining marks in a row. No language's text
    /// has such runs, and Swift's `String` hashing and comparison put each run in canonical order
    /// in time quadratic in its length: a 4 MiB label key of alternating marks would hold an
    /// event loop for most of an hour as the request is decoded into a dictionary.
    static func checkStreamSafe(_ s: String) throws(WireError) {
        var run = 0
        for scalar in s.unicodeScalars {
            // Nothing below U+0300 is a combining mark.
            if scalar.value < 0x300 || scalar.properties.canonicalCombiningClass.rawValue == 0 {
                run = 0
                continue
            }
            run += 1
            if run > maxNonStarters {
                throw WireError(
                    .malformed,
                    "a string field has more than \(maxNonStarters) combining marks in a row "
                        + "(it is not stream-safe Unicode text, UAX #15)")
            }
        }
    }

    package static func bytes(_ d: ProtobufCBinaryData) -> [UInt8] {
        guard d.len > 0, let data = d.data else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: d.len))
    }

    package static func message<M: CMessage>(_ p: UnsafeMutablePointer<M.CStruct>?, _ type: M.Type) throws(WireError) -> M {
        guard let p else { return M() }
        return try M(cMessage: p)
    }

    package static func messages<M: CMessage>(
        _ p: UnsafeMutablePointer<UnsafeMutablePointer<M.CStruct>?>?, _ count: Int, _ type: M.Type
    ) throws(WireError) -> [M] {
        guard count > 0, let p else { return [] }
        var result: [M] = []
        result.reserveCapacity(count)
        for i in 0..<count {
            result.append(try message(p[i], type))
        }
        return result
    }

    package static func strings(_ p: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ count: Int) throws(WireError) -> [String] {
        guard count > 0, let p else { return [] }
        var result: [String] = []
        result.reserveCapacity(count)
        for i in 0..<count { result.append(try string(p[i])) }
        return result
    }

    package static func bytesArray(_ p: UnsafeMutablePointer<ProtobufCBinaryData>?, _ count: Int) -> [[UInt8]] {
        guard count > 0, let p else { return [] }
        return (0..<count).map { bytes(p[$0]) }
    }

    package static func bools(_ p: UnsafeMutablePointer<protobuf_c_boolean>?, _ count: Int) -> [Bool] {
        guard count > 0, let p else { return [] }
        return (0..<count).map { p[$0] != 0 }
    }

    package static func scalars<T>(_ p: UnsafeMutablePointer<T>?, _ count: Int) -> [T] {
        guard count > 0, let p else { return [] }
        return Array(UnsafeBufferPointer(start: p, count: count))
    }

    package static func enums<C: RawRepresentable, E: ProtoEnum>(_ p: UnsafeMutablePointer<C>?, _ count: Int, _ type: E.Type) -> [E]
    where C.RawValue: BinaryInteger {
        guard count > 0, let p else { return [] }
        return (0..<count).map { E(rawValue: Int32(truncatingIfNeeded: p[$0].rawValue)) }
    }
}
