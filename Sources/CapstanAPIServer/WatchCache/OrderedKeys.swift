/// A set of keys kept in byte order (as the store orders them) for the watch cache's paged lists.
///
/// The keys are held in sorted chunks of at most `maxChunk` keys, none empty, each chunk's keys
/// before the next chunk's. An insert or a delete finds its chunk by binary search over the
/// chunks' last keys and moves at most one chunk's keys (plus, when a chunk splits or empties, one
/// slot per chunk), so with 150,000 keys a create no longer shifts the whole array. Iteration is a
/// `Collection` whose index is a (chunk, offset) position.
///
/// Searching without reading the keys: every key is a separate heap string, so each comparison
/// of a binary search that reads one is a cache miss, and a create made about 18 of them (about
/// a third of the watch feed's time per create). So each chunk knows a prefix all its keys share
/// (`Chunk.common` bytes long) and keeps, beside each key, the 16 bytes after that prefix as
/// big-endian numbers (`heads`, zero-padded); the set likewise knows a prefix all keys share and
/// keeps the 32 bytes after it of each chunk's first and last key (`firstHeads`, `lastHeads`).
/// Two keys that share a prefix and have different heads after it are ordered as their heads
/// (see `head(_:at:)`); only equal heads need the keys themselves. A search reads the first key
/// of the set (to check that the searched key has the prefix all share: one that does not is
/// before or after every key), and rarely another. The prefixes only shrink when a key that does
/// not share them is inserted (then the heads are recomputed); a split or a merge recomputes the
/// chunks' own.
struct OrderedKeys: Sendable, Collection {
    /// Most keys in one chunk; a fuller chunk splits in two.
    static let maxChunk = 256

    struct Index: Sendable, Comparable {
        var chunk: Int
        var offset: Int

        static func < (a: Index, b: Index) -> Bool {
            a.chunk != b.chunk ? a.chunk < b.chunk : a.offset < b.offset
        }
    }

    /// A run of keys in order, and each key's 8 bytes after the prefix they all share.
    private struct Chunk: Sendable {
        var keys: [String]
        /// `heads[i]` is `Head(keys[i], at: common)`.
        var heads: [Head]
        /// The length in bytes of a prefix every key of the chunk has (not necessarily the
        /// longest).
        var common: Int

        init(keys: [String]) {
            let common = OrderedKeys.commonPrefixLength(keys[0], keys[keys.count - 1])
            self.keys = keys
            self.common = common
            heads = keys.map { Head($0, at: common) }
        }

        init(keys: [String], heads: [Head], common: Int) {
            self.keys = keys
            self.heads = heads
            self.common = common
        }

        /// Recomputes the heads at a shorter shared prefix.
        mutating func rehead(at common: Int) {
            guard common != self.common else { return }
            self.common = common
            heads = keys.map { Head($0, at: common) }
        }

        /// Lengthens the shared prefix to the longest one (after a split), recomputing the heads.
        mutating func sharpen() {
            let longest = OrderedKeys.commonPrefixLength(keys[0], keys[keys.count - 1])
            if longest > common { rehead(at: longest) }
        }
    }

    /// The 16 bytes of a key after a prefix, as two big-endian numbers (see `head(_:at:)`):
    /// past a chunk's shared prefix, enough for a replica set's hash and a pod's suffix.
    struct Head: Sendable, Equatable {
        var high: UInt64
        var low: UInt64

        init(_ key: String, at offset: Int) {
            high = OrderedKeys.head(key, at: offset)
            low = OrderedKeys.head(key, at: offset + 8)
        }

        static func < (a: Head, b: Head) -> Bool {
            a.high != b.high ? a.high < b.high : a.low < b.low
        }
    }

    /// The 32 bytes of a key after the prefix all keys share, as four big-endian numbers (the
    /// chunks' last keys differ further in than within a chunk: a namespace, then the name).
    struct WideHead: Sendable, Equatable {
        var words: (UInt64, UInt64, UInt64, UInt64)

        init(_ key: String, at offset: Int) {
            words = (
                OrderedKeys.head(key, at: offset), OrderedKeys.head(key, at: offset + 8), OrderedKeys.head(key, at: offset + 16),
                OrderedKeys.head(key, at: offset + 24)
            )
        }

        static func == (a: WideHead, b: WideHead) -> Bool { a.words == b.words }

        /// How many of the 32 bytes are equal before the first that differs.
        func sharedPrefixLength(_ other: WideHead) -> Int {
            if words.0 != other.words.0 { return (words.0 ^ other.words.0).leadingZeroBitCount / 8 }
            if words.1 != other.words.1 { return 8 + (words.1 ^ other.words.1).leadingZeroBitCount / 8 }
            if words.2 != other.words.2 { return 16 + (words.2 ^ other.words.2).leadingZeroBitCount / 8 }
            if words.3 != other.words.3 { return 24 + (words.3 ^ other.words.3).leadingZeroBitCount / 8 }
            return 32
        }

        static func < (a: WideHead, b: WideHead) -> Bool {
            if a.words.0 != b.words.0 { return a.words.0 < b.words.0 }
            if a.words.1 != b.words.1 { return a.words.1 < b.words.1 }
            if a.words.2 != b.words.2 { return a.words.2 < b.words.2 }
            return a.words.3 < b.words.3
        }
    }

    private var chunks: [Chunk] = []
    /// `lastHeads[c]` is `WideHead(chunks[c].keys.last, at: common)`.
    private var lastHeads: [WideHead] = []
    /// `firstHeads[c]` is `WideHead(chunks[c].keys.first, at: common)`: whether a key has a
    /// chunk's shared prefix is then known without reading the chunk's first key, when that
    /// prefix ends within 32 bytes after `common`.
    private var firstHeads: [WideHead] = []
    /// The length in bytes of a prefix every key has.
    private var common = 0
    private(set) var count = 0

    init() {}

    /// The keys `sorted`, which must be in byte order without duplicates.
    init<Keys: Collection<String>>(sorted: Keys) {
        var chunk: [String] = []
        chunk.reserveCapacity(Self.maxChunk / 2)
        for key in sorted {
            chunk.append(key)
            if chunk.count == Self.maxChunk / 2 {
                chunks.append(Chunk(keys: chunk))
                chunk.removeAll(keepingCapacity: true)
            }
        }
        if !chunk.isEmpty { chunks.append(Chunk(keys: chunk)) }
        count = sorted.count
        if let first = chunks.first?.keys.first, let last = chunks.last?.keys.last {
            common = Self.commonPrefixLength(first, last)
        }
        lastHeads = chunks.map { WideHead($0.keys[$0.keys.count - 1], at: common) }
        firstHeads = chunks.map { WideHead($0.keys[0], at: common) }
    }

    /// Whether `a` comes before `b` in byte order (the store's order, not `String`'s Unicode
    /// order). Compares the UTF-8 bytes in place: the generic `lexicographicallyPrecedes` over
    /// `UTF8View`s costs ten times more.
    static func precedes(_ a: String, _ b: String) -> Bool {
        let (x, y) = (a.utf8.span, b.utf8.span)
        let common = Swift.min(x.count, y.count)
        var index = 0
        while index < common {
            let (p, q) = (x[index], y[index])
            if p != q { return p < q }
            index += 1
        }
        return x.count < y.count
    }

    /// Whether `a` and `b` are the same bytes (`==` would also equate canonically equivalent
    /// strings, which are different keys in the store).
    static func sameBytes(_ a: String, _ b: String) -> Bool {
        let length = a.utf8.count
        return length == b.utf8.count && commonPrefixLength(a, b) == length
    }

    /// How many leading bytes `a` and `b` share.
    static func commonPrefixLength(_ a: String, _ b: String) -> Int {
        let (x, y) = (a.utf8.span, b.utf8.span)
        let common = Swift.min(x.count, y.count)
        var index = 0
        while index < common, x[index] == y[index] { index += 1 }
        return index
    }

    /// The 8 bytes of `key` from byte `offset` on, as a big-endian number, zero where the key
    /// ends. For two keys sharing their first `offset` bytes, different heads order them as
    /// the keys: the first byte where the heads differ is either a byte where the keys differ or
    /// a byte past the end of one key (a zero) where the other has a byte above zero, so that the
    /// key that ended, a prefix of the other, comes first. Equal heads order nothing.
    static func head(_ key: String, at offset: Int) -> UInt64 {
        let bytes = key.utf8.span
        var value: UInt64 = 0
        var index = offset
        for _ in 0..<8 {
            value <<= 8
            if index < bytes.count { value |= UInt64(bytes[index]) }
            index += 1
        }
        return value
    }

    var startIndex: Index { Index(chunk: 0, offset: 0) }
    var endIndex: Index { Index(chunk: chunks.count, offset: 0) }
    var isEmpty: Bool { count == 0 }

    subscript(position: Index) -> String { chunks[position.chunk].keys[position.offset] }

    func index(after position: Index) -> Index {
        position.offset + 1 < chunks[position.chunk].keys.count
            ? Index(chunk: position.chunk, offset: position.offset + 1)
            : Index(chunk: position.chunk + 1, offset: 0)
    }

    /// The position of the first key not before `key` (`endIndex` if none).
    func lowerBound(_ key: String) -> Index {
        var reads = 0
        let (chunk, head) = chunkIndex(for: key, reads: &reads)
        guard chunk < chunks.count else { return endIndex }
        return Index(chunk: chunk, offset: position(of: key, head: head, in: chunk, reads: &reads).offset)
    }

    /// How many stored keys finding `key`'s position reads (each read of a key is likely a
    /// cache miss; the heads spare most of them). For tests.
    func keyReads(toFind key: String) -> Int {
        var reads = 0
        let (chunk, head) = chunkIndex(for: key, reads: &reads)
        if chunk < chunks.count { _ = position(of: key, head: head, in: chunk, reads: &reads) }
        return reads
    }

    /// Adds `key`; false (and no change) if it is already present.
    @discardableResult
    mutating func insert(_ key: String) -> Bool {
        guard !chunks.isEmpty else {
            common = key.utf8.count
            chunks = [Chunk(keys: [key], heads: [Head(key, at: common)], common: common)]
            lastHeads = [WideHead(key, at: common)]
            firstHeads = lastHeads
            count = 1
            return true
        }
        // Every key shares the new one's common prefix with any stored key, up to `common`.
        let shared = Self.commonPrefixLength(key, chunks[0].keys[0])
        if shared < common {
            common = shared
            lastHeads = chunks.map { WideHead($0.keys[$0.keys.count - 1], at: shared) }
            firstHeads = chunks.map { WideHead($0.keys[0], at: shared) }
        }
        var reads = 0
        let located = chunkIndex(for: key, reads: &reads)
        let chunk = Swift.min(located.chunk, chunks.count - 1)
        let found = position(of: key, head: located.head, in: chunk, reads: &reads)
        if found.present { return false }
        if let outside = found.sharedWithFirst { chunks[chunk].rehead(at: outside) }
        let head = Head(key, at: chunks[chunk].common)
        chunks[chunk].keys.insert(key, at: found.offset)
        chunks[chunk].heads.insert(head, at: found.offset)
        count += 1
        let size = chunks[chunk].keys.count
        if found.offset == size - 1 { lastHeads[chunk] = located.head ?? WideHead(key, at: common) }
        if found.offset == 0 { firstHeads[chunk] = located.head ?? WideHead(key, at: common) }
        if size > Self.maxChunk { split(chunk) }
        return true
    }

    /// Removes `key`; false if it was not present.
    @discardableResult
    mutating func remove(_ key: String) -> Bool {
        var reads = 0
        let (chunk, head) = chunkIndex(for: key, reads: &reads)
        guard chunk < chunks.count else { return false }
        let found = position(of: key, head: head, in: chunk, reads: &reads)
        guard found.present else { return false }
        chunks[chunk].keys.remove(at: found.offset)
        chunks[chunk].heads.remove(at: found.offset)
        count -= 1
        let size = chunks[chunk].keys.count
        if size == 0 {
            chunks.remove(at: chunk)
            lastHeads.remove(at: chunk)
            firstHeads.remove(at: chunk)
            return true
        }
        if found.offset == size { lastHeads[chunk] = WideHead(chunks[chunk].keys[size - 1], at: common) }
        if found.offset == 0 { firstHeads[chunk] = WideHead(chunks[chunk].keys[0], at: common) }
        if size < Self.maxChunk / 4, chunk + 1 < chunks.count, size + chunks[chunk + 1].keys.count <= Self.maxChunk / 2 {
            // Keeps chunks from thinning out under deletes: merge with the next one.
            merge(chunk)
        }
        return true
    }

    /// Splits the chunk at `index` in two halves.
    private mutating func split(_ index: Int) {
        let size = chunks[index].keys.count
        let half = size / 2
        var upper = Chunk(
            keys: Array(chunks[index].keys[half..<size]), heads: Array(chunks[index].heads[half..<size]),
            common: chunks[index].common)
        chunks[index].keys.removeSubrange(half..<size)
        chunks[index].heads.removeSubrange(half..<size)
        upper.sharpen()
        chunks[index].sharpen()
        chunks.insert(upper, at: index + 1)
        lastHeads.insert(lastHeads[index], at: index + 1)
        firstHeads.insert(WideHead(chunks[index + 1].keys[0], at: common), at: index + 1)
        lastHeads[index] = WideHead(chunks[index].keys[half - 1], at: common)
    }

    /// Merges the chunk after `index` into it.
    private mutating func merge(_ index: Int) {
        var next = chunks.remove(at: index + 1)
        let nextLast = lastHeads.remove(at: index + 1)
        firstHeads.remove(at: index + 1)
        let shared = Swift.min(
            chunks[index].common, next.common,
            Self.commonPrefixLength(chunks[index].keys[0], next.keys[next.keys.count - 1]))
        chunks[index].rehead(at: shared)
        next.rehead(at: shared)
        chunks[index].keys.append(contentsOf: next.keys)
        chunks[index].heads.append(contentsOf: next.heads)
        lastHeads[index] = nextLast
    }

    /// The first chunk whose last key is not before `key` (`chunks.count` if none), and
    /// `key`'s wide head when it has the prefix every key shares; counts the stored keys it
    /// reads in `reads`.
    private func chunkIndex(for key: String, reads: inout Int) -> (chunk: Int, head: WideHead?) {
        guard !chunks.isEmpty else { return (0, nil) }
        let first = chunks[0].keys[0]
        reads += 1
        if Self.commonPrefixLength(key, first) < common {
            // Every stored key has the prefix `key` lacks: `key` is before or after them all.
            return (Self.precedes(key, first) ? 0 : chunks.count, nil)
        }
        let head = WideHead(key, at: common)
        var low = 0
        var high = chunks.count
        while low < high {
            let middle = (low + high) / 2
            let last = lastHeads[middle]
            let before: Bool
            if last != head {
                before = last < head
            } else {
                reads += 1
                before = Self.precedes(chunks[middle].keys[chunks[middle].keys.count - 1], key)
            }
            if before { low = middle + 1 } else { high = middle }
        }
        return (low, head)
    }

    /// The first offset in chunk `index` whose key is not before `key`; whether that key is
    /// `key`; and, when `key` lacks the chunk's shared prefix, how many bytes of it `key` has
    /// (an insert shortens the prefix to that). `wide` is `key`'s wide head, if it has the
    /// prefix every key shares.
    private func position(of key: String, head wide: WideHead?, in index: Int, reads: inout Int)
        -> (offset: Int, present: Bool, sharedWithFirst: Int?)
    {
        let common = chunks[index].common
        let beyond = common - self.common
        if let wide, beyond <= 32, key.utf8.count >= common {
            // Both keys have real bytes up to `common`: the wide heads tell whether they agree
            // there and, if not, how they are ordered and how many bytes they share.
            let shared = wide.sharedPrefixLength(firstHeads[index])
            if shared < beyond {
                return (wide < firstHeads[index] ? 0 : chunks[index].keys.count, false, self.common + shared)
            }
        } else {
            let first = chunks[index].keys[0]
            reads += 1
            let shared = Self.commonPrefixLength(key, first)
            if shared < common {
                return (Self.precedes(key, first) ? 0 : chunks[index].keys.count, false, shared)
            }
        }
        let head = Head(key, at: common)
        var low = 0
        var high = chunks[index].heads.count
        while low < high {
            let middle = (low + high) / 2
            let other = chunks[index].heads[middle]
            let before: Bool
            if other != head {
                before = other < head
            } else {
                reads += 1
                before = Self.precedes(chunks[index].keys[middle], key)
            }
            if before { low = middle + 1 } else { high = middle }
        }
        guard low < chunks[index].heads.count, chunks[index].heads[low] == head else { return (low, false, nil) }
        reads += 1
        return (low, Self.sameBytes(chunks[index].keys[low], key), nil)
    }
}
