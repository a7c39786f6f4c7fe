/// Timers of one loop: a binary min-heap of deadlines plus the bodies by id. Cancelling removes
/// the body; its heap entry is dropped when it comes up. Loop-thread only.
struct TimerHeap {
    private struct Entry: HeapElement {
        let deadline: ContinuousClock.Instant
        let id: UInt64
    }

    private var heap: [Entry] = []
    private var bodies: [UInt64: () -> Void] = [:]

    var count: Int { bodies.count }

    /// Heap entries, including those of cancelled timers not dropped yet (for tests).
    var entryCount: Int { heap.count }

    mutating func insert(id: UInt64, deadline: ContinuousClock.Instant, _ body: @escaping () -> Void) {
        bodies[id] = body
        heap.append(Entry(deadline: deadline, id: id))
        heap.heapSiftUp(heap.count - 1)
    }

    mutating func cancel(id: UInt64) {
        bodies[id] = nil
        if bodies.isEmpty { heap.removeAll(keepingCapacity: true) }
    }

    /// The earliest deadline of a live timer.
    mutating func nextDeadline() -> ContinuousClock.Instant? {
        while let first = heap.first {
            if bodies[first.id] != nil { return first.deadline }
            popFirst()
        }
        return nil
    }

    /// Removes and returns the bodies of every live timer due at `now`, earliest first.
    mutating func popDue(now: ContinuousClock.Instant) -> [() -> Void] {
        var due: [() -> Void] = []
        while let first = heap.first, first.deadline <= now {
            popFirst()
            if let body = bodies.removeValue(forKey: first.id) { due.append(body) }
        }
        return due
    }

    private mutating func popFirst() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        heap.heapSiftDown(0)
    }
}
