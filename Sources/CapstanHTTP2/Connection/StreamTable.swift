/// A connection's open streams by HTTP/2 stream id: an open-addressing hash table with linear
/// probing and backward-shift deletion.
///
/// A `Dictionary` keyed by `Int32` hashes every lookup with the seeded SipHash of `Hasher`, and
/// a unary call looks its stream up about seven times (headers, data, the data provider, close);
/// here an id costs one multiplication (Fibonacci hashing). A peer that picks its (increasing)
/// stream ids to collide makes lookups linear in its own open streams, which
/// SETTINGS_MAX_CONCURRENT_STREAMS bounds. Not thread-safe: the connection's loop thread only.
struct StreamTable<Value: AnyObject> {
    private var keys: [Int32]
    private var values: [Value?]
    /// `keys.count - 1`; the capacity is a power of two.
    private var mask: Int
    /// 32 − log2(capacity): the home slot is the top bits of the multiplied id.
    private var shift: UInt32
    private(set) var count = 0

    /// Slot key of an empty slot (stream id 0 is the connection, never a stream).
    private static var empty: Int32 { 0 }

    init() {
        keys = Array(repeating: Self.empty, count: 16)
        values = Array(repeating: nil, count: 16)
        mask = 15
        shift = 28
    }

    var isEmpty: Bool { count == 0 }

    /// The open streams, in no particular order.
    var allValues: [Value] { values.compactMap { $0 } }

    @inline(__always)
    private func home(_ id: Int32) -> Int {
        // Fibonacci hashing of the id (consecutive ids differ by 2: spread them over the table).
        Int(truncatingIfNeeded: (UInt32(bitPattern: id) &* 0x9E37_79B1) >> shift)
    }

    subscript(id: Int32) -> Value? {
        get {
            precondition(id != Self.empty, "stream id 0 is the connection")
            var slot = home(id)
            while true {
                let key = keys[slot]
                if key == id { return values[slot] }
                if key == Self.empty { return nil }
                slot = (slot + 1) & mask
            }
        }
        set {
            if let newValue { insert(id, newValue) } else { _ = removeValue(forKey: id) }
        }
    }

    private mutating func insert(_ id: Int32, _ value: Value) {
        precondition(id != Self.empty, "stream id 0 is the connection")
        if (count + 1) * 4 > keys.count * 3 { grow() }
        var slot = home(id)
        while true {
            let key = keys[slot]
            if key == id {
                values[slot] = value
                return
            }
            if key == Self.empty {
                keys[slot] = id
                values[slot] = value
                count += 1
                return
            }
            slot = (slot + 1) & mask
        }
    }

    /// Removes and returns the stream with `id`, if any.
    mutating func removeValue(forKey id: Int32) -> Value? {
        guard id != Self.empty else { return nil }
        var slot = home(id)
        while keys[slot] != id {
            if keys[slot] == Self.empty { return nil }
            slot = (slot + 1) & mask
        }
        let removed = values[slot]
        // Backward shift: move later entries of the probe run into the hole when their home
        // slot does not lie (cyclically) between the hole and them.
        var hole = slot
        var next = (slot + 1) & mask
        while keys[next] != Self.empty {
            let want = home(keys[next])
            let distanceToNext = (next - want) & mask
            let distanceToHole = (hole - want) & mask
            if distanceToHole < distanceToNext {
                keys[hole] = keys[next]
                values[hole] = values[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        keys[hole] = Self.empty
        values[hole] = nil
        count -= 1
        return removed
    }

    mutating func removeAll() {
        for slot in keys.indices where keys[slot] != Self.empty {
            keys[slot] = Self.empty
            values[slot] = nil
        }
        count = 0
    }

    private mutating func grow() {
        let oldKeys = keys
        let oldValues = values
        let capacity = keys.count * 2
        keys = Array(repeating: Self.empty, count: capacity)
        values = Array(repeating: nil, count: capacity)
        mask = capacity - 1
        shift -= 1
        count = 0
        for slot in oldKeys.indices where oldKeys[slot] != Self.empty {
            insert(oldKeys[slot], oldValues[slot]!)
        }
    }
}
