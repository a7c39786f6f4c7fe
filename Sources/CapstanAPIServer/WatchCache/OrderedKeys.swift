/// A set of keys kept in byte order (as the store orders them) for the watch cache's paged lists.
///
/// The keys are held in sorted chunks of at most `maxChunk` keys, none empty, each chunk's keys
/// before the next chunk's. An insert or a delete finds its chunk by binary search over the
/// chunks' last keys and moves at most one chunk's keys (plus, when a chunk splits or empties, one
/// slot per chunk), so with 150,000 keys a create no longer shifts the whole array. Iteration is a
/// `Collection` whose index is a (chunk, offset) position.
struct OrderedKeys: Sendable, Collection {
    /// Most keys in one chunk; a fuller chunk splits in two.
    static let maxChunk = 512

    struct Index: Sendable, Comparable {
        var chunk: Int
        var offset: Int

        static func < (a: Index, b: Index) -> Bool {
            a.chunk != b.chunk ? a.chunk < b.chunk : a.offset < b.offset
        }
    }

    private var chunks: [[String]] = []
    private(set) var count = 0

    init() {}

    /// The keys `sorted`, which must be in byte order without duplicates.
    init<Keys: Collection<String>>(sorted: Keys) {
        var chunk: [String] = []
        chunk.reserveCapacity(Self.maxChunk / 2)
        for key in sorted {
            chunk.append(key)
            if chunk.count == Self.maxChunk / 2 {
                chunks.append(chunk)
                chunk.removeAll(keepingCapacity: true)
            }
        }
        if !chunk.isEmpty { chunks.append(chunk) }
        count = sorted.count
    }

    /// Whether `a` comes before `b` in byte order (the store's order, not `String`'s Unicode
    /// order). Compares the UTF-8 bytes in place: the generic `lexicographicallyPrecedes` over
    /// `UTF8View`s costs ten times more, and a create makes about 30 of these comparisons.
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

    var startIndex: Index { Index(chunk: 0, offset: 0) }
    var endIndex: Index { Index(chunk: chunks.count, offset: 0) }
    var isEmpty: Bool { count == 0 }

    subscript(position: Index) -> String { chunks[position.chunk][position.offset] }

    func index(after position: Index) -> Index {
        position.offset + 1 < chunks[position.chunk].count
            ? Index(chunk: position.chunk, offset: position.offset + 1)
            : Index(chunk: position.chunk + 1, offset: 0)
    }

    /// The position of the first key not before `key` (`endIndex` if none).
    func lowerBound(_ key: String) -> Index {
        let chunk = chunkIndex(for: key)
        guard chunk < chunks.count else { return endIndex }
        return Index(chunk: chunk, offset: Self.lowerBound(key, in: chunks[chunk]))
    }

    /// Adds `key`; false (and no change) if it is already present.
    @discardableResult
    mutating func insert(_ key: String) -> Bool {
        guard !chunks.isEmpty else {
            chunks = [[key]]
            count = 1
            return true
        }
        let chunk = Swift.min(chunkIndex(for: key), chunks.count - 1)
        let offset = Self.lowerBound(key, in: chunks[chunk])
        if offset < chunks[chunk].count && chunks[chunk][offset] == key { return false }
        chunks[chunk].insert(key, at: offset)
        count += 1
        if chunks[chunk].count > Self.maxChunk {
            let size = chunks[chunk].count
            let upper = Array(chunks[chunk][(size / 2)..<size])
            chunks[chunk].removeSubrange((size / 2)..<size)
            chunks.insert(upper, at: chunk + 1)
        }
        return true
    }

    /// Removes `key`; false if it was not present.
    @discardableResult
    mutating func remove(_ key: String) -> Bool {
        let chunk = chunkIndex(for: key)
        guard chunk < chunks.count else { return false }
        let offset = Self.lowerBound(key, in: chunks[chunk])
        guard offset < chunks[chunk].count && chunks[chunk][offset] == key else { return false }
        chunks[chunk].remove(at: offset)
        count -= 1
        if chunks[chunk].isEmpty {
            chunks.remove(at: chunk)
        } else if chunks[chunk].count < Self.maxChunk / 4, chunk + 1 < chunks.count,
                  chunks[chunk].count + chunks[chunk + 1].count <= Self.maxChunk / 2
        {
            // Keeps chunks from thinning out under deletes: merge with the next one.
            let next = chunks.remove(at: chunk + 1)
            chunks[chunk].append(contentsOf: next)
        }
        return true
    }

    /// The first chunk whose last key is not before `key` (`chunks.count` if none).
    private func chunkIndex(for key: String) -> Int {
        var low = 0
        var high = chunks.count
        while low < high {
            let middle = (low + high) / 2
            if Self.precedes(chunks[middle][chunks[middle].count - 1], key) { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The first offset in `chunk` whose key is not before `key`.
    private static func lowerBound(_ key: String, in chunk: [String]) -> Int {
        var low = 0
        var high = chunk.count
        while low < high {
            let middle = (low + high) / 2
            if precedes(chunk[middle], key) { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
