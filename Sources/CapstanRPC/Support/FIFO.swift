/// A first-in first-out queue with amortized O(1) push and pop.
struct FIFO<Element> {
    private var input: [Element] = []
    /// Holds the oldest elements, reversed, so the oldest is last.
    private var output: [Element] = []

    var count: Int { input.count + output.count }
    var isEmpty: Bool { input.isEmpty && output.isEmpty }

    mutating func append(_ element: Element) {
        input.append(element)
    }

    mutating func popFirst() -> Element? {
        if output.isEmpty {
            guard !input.isEmpty else { return nil }
            output = input.reversed()
            input.removeAll(keepingCapacity: true)
        }
        return output.popLast()
    }

    mutating func removeAll() {
        input.removeAll()
        output.removeAll()
    }
}
