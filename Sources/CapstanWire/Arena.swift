package import CCapstanProto
internal import CProtobufC
package import CapstanAPI
import Glibc

/// A Swift face on the C arena (`capstan_arena.h`): allocations for one encode or decode, all
/// released together by `release()`. Used by one call on one thread; never stored.
package struct Arena {
    package let raw: OpaquePointer

    init(initialCapacity: Int = 4096) {
        guard let raw = capstan_arena_new(initialCapacity) else { fatalError("out of memory creating an arena") }
        self.raw = raw
    }

    private init(raw: OpaquePointer) {
        self.raw = raw
    }

    /// An empty arena of at least `minimumCapacity` bytes, reusing the one this thread's last
    /// call handed back (`giveBack()`): an encode or decode then allocates no chunk of its own.
    static func take(minimumCapacity: Int) -> Arena {
        guard let raw = capstan_arena_take(minimumCapacity) else { fatalError("out of memory creating an arena") }
        return Arena(raw: raw)
    }

    package func release() { capstan_arena_free(raw) }

    /// Whether a string copied in since the arena was taken held a NUL byte (see `string`).
    var cutString: Bool { capstan_arena_cut_string(raw) != 0 }

    /// Empties the arena and keeps it for this thread's next `take` (or frees it); like `release()`,
    /// nothing allocated from it may be used afterwards.
    func giveBack() { capstan_arena_give(raw) }

    package var allocator: UnsafeMutablePointer<ProtobufCAllocator> { capstan_arena_allocator(raw) }

    package func allocate<T>(_ type: T.Type, count: Int = 1) -> UnsafeMutablePointer<T> {
        guard let p = capstan_arena_alloc(raw, MemoryLayout<T>.stride * count) else {
            fatalError("out of memory encoding a message")
        }
        return p.bindMemory(to: type, capacity: count)
    }

    /// A NUL-terminated copy (never NULL: oneof and repeated members need a real pointer). A
    /// string that holds a NUL is cut there by protobuf-c's encoding; the arena notes it
    /// (`cutString`).
    package func string(_ s: String) -> UnsafeMutablePointer<CChar> {
        // Read in place (native strings are contiguous): `withUTF8` is mutating, so it needs a
        // copy of the string, a retain and a release per string encoded.
        if let p = s.utf8.withContiguousStorageIfAvailable(cString) { return p }
        var s = s
        return s.withUTF8(cString)
    }

    private func cString(_ utf8: UnsafeBufferPointer<UInt8>) -> UnsafeMutablePointer<CChar> {
        let p = allocate(CChar.self, count: utf8.count + 1)
        if let base = utf8.baseAddress {
            UnsafeMutableRawPointer(p).copyMemory(from: base, byteCount: utf8.count)
            if memchr(base, 0, utf8.count) != nil { capstan_arena_note_cut_string(raw) }
        }
        p[utf8.count] = 0
        return p
    }

    /// NULL for the empty string, which protobuf-c omits from a proto3 singular field anyway.
    package func optionalString(_ s: String) -> UnsafeMutablePointer<CChar>? {
        s.isEmpty ? nil : string(s)
    }

    package func bytes(_ b: [UInt8]) -> ProtobufCBinaryData {
        guard !b.isEmpty else { return ProtobufCBinaryData(len: 0, data: nil) }
        let p = allocate(UInt8.self, count: b.count)
        b.withUnsafeBufferPointer { p.initialize(from: $0.baseAddress!, count: b.count) }
        return ProtobufCBinaryData(len: b.count, data: p)
    }

    package func message<M: CMessage>(_ m: M) -> UnsafeMutablePointer<M.CStruct> {
        let p = allocate(M.CStruct.self)
        M.cInit(p)
        m.cFill(p, self)
        return p
    }

    package func messages<M: CMessage>(_ ms: [M]) -> UnsafeMutablePointer<UnsafeMutablePointer<M.CStruct>?> {
        let p = allocate(UnsafeMutablePointer<M.CStruct>?.self, count: ms.count)
        for (i, m) in ms.enumerated() { p[i] = message(m) }
        return p
    }

    package func strings(_ ss: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
        let p = allocate(UnsafeMutablePointer<CChar>?.self, count: ss.count)
        for (i, s) in ss.enumerated() { p[i] = string(s) }
        return p
    }

    package func bytesArray(_ bs: [[UInt8]]) -> UnsafeMutablePointer<ProtobufCBinaryData> {
        let p = allocate(ProtobufCBinaryData.self, count: bs.count)
        for (i, b) in bs.enumerated() { p[i] = bytes(b) }
        return p
    }

    package func bools(_ bs: [Bool]) -> UnsafeMutablePointer<protobuf_c_boolean> {
        let p = allocate(protobuf_c_boolean.self, count: bs.count)
        for (i, b) in bs.enumerated() { p[i] = b ? 1 : 0 }
        return p
    }

    package func scalars<T>(_ xs: [T]) -> UnsafeMutablePointer<T> {
        let p = allocate(T.self, count: xs.count)
        xs.withUnsafeBufferPointer { p.initialize(from: $0.baseAddress!, count: xs.count) }
        return p
    }

    package func enums<E: ProtoEnum, C: RawRepresentable>(_ xs: [E], as type: C.Type) -> UnsafeMutablePointer<C>
    where C.RawValue: FixedWidthInteger {
        let p = allocate(C.self, count: xs.count)
        for (i, x) in xs.enumerated() {
            p[i] = C(rawValue: C.RawValue(truncatingIfNeeded: x.rawValue))!
        }
        return p
    }

    /// Map entries, in the order given (callers sort by key so equal maps encode equally).
    package func entries<K, V, E>(
        _ pairs: [(key: K, value: V)], _ type: E.Type, _ initialize: (UnsafeMutablePointer<E>?) -> Void,
        _ fill: (UnsafeMutablePointer<E>, K, V) -> Void
    ) -> UnsafeMutablePointer<UnsafeMutablePointer<E>?> {
        let p = allocate(UnsafeMutablePointer<E>?.self, count: pairs.count)
        for (i, pair) in pairs.enumerated() {
            let e = allocate(E.self)
            initialize(e)
            fill(e, pair.key, pair.value)
            p[i] = e
        }
        return p
    }
}
