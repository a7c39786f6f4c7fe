/// A first-in first-out queue on an array with a moving head (amortised O(1) both ends).
struct FIFO<Element> {
    private var storage: [Element] = []
    private var head = 0

    var isEmpty: Bool { head == storage.count }
    var count: Int { storage.count - head }
    var first: Element? { head < storage.count ? storage[head] : nil }

    mutating func append(_ element: Element) {
        storage.append(element)
    }

    mutating func append(contentsOf elements: some Sequence<Element>) {
        storage.append(contentsOf: elements)
    }

    mutating func popFirst() -> Element? {
        guard head < storage.count else { return nil }
        let element = storage[head]
        head += 1
        if head == storage.count {
            storage.removeAll(keepingCapacity: storage.capacity <= 4096)
            head = 0
        } else if head >= 1024, head * 2 >= storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return element
    }

    mutating func removeAll() {
        storage.removeAll()
        head = 0
    }
}

extension Array where Element == UInt8 {
    /// Whether these UTF-8 bytes start with `prefix`'s (byte-wise, as the store compares keys).
    func hasBytePrefix(_ prefix: [UInt8]) -> Bool {
        count >= prefix.count && self[0..<prefix.count].elementsEqual(prefix)
    }
}

extension String {
    func hasBytePrefix(_ prefix: [UInt8]) -> Bool {
        utf8.count >= prefix.count && utf8.prefix(prefix.count).elementsEqual(prefix)
    }
}
