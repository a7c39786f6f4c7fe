/// An element of a binary min-heap of deadlines kept in an array (`TimerHeap`, `DeadlineQueue`).
protocol HeapElement {
    var deadline: ContinuousClock.Instant { get }
    /// Told the element's index after a sift moved it (for heaps whose elements know their slot).
    func placed(at index: Int)
}

extension HeapElement {
    func placed(at index: Int) {}
}

extension Array where Element: HeapElement {
    /// Moves the element at `start` up until its parent is not later.
    mutating func heapSiftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard self[child].deadline < self[parent].deadline else { return }
            heapSwap(child, parent)
            child = parent
        }
    }

    /// Moves the element at `start` down until neither child is earlier.
    mutating func heapSiftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < count else { return }
            var smallest = left
            let right = left + 1
            if right < count, self[right].deadline < self[left].deadline { smallest = right }
            guard self[smallest].deadline < self[parent].deadline else { return }
            heapSwap(parent, smallest)
            parent = smallest
        }
    }

    private mutating func heapSwap(_ a: Int, _ b: Int) {
        swapAt(a, b)
        self[a].placed(at: a)
        self[b].placed(at: b)
    }
}
