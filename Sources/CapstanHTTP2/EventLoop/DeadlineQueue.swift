/// Something a loop calls back at a deadline (a server stream whose call has a `grpc-timeout`,
/// a client stream whose call has a deadline). Loop-thread only.
protocol DeadlineEntry: AnyObject {
    /// Where the entry sits in its loop's `DeadlineQueue`, -1 when it is not queued. Only the
    /// queue writes it.
    var deadlineSlot: Int { get set }
    /// The deadline passed (the entry has already left the queue).
    func deadlinePassed()
}

/// The call deadlines of one loop: a binary min-heap whose entries know their slot, so a call
/// that ends in time leaves it at once in O(log n) and nothing stale piles up (unlike
/// `TimerHeap`, which drops cancelled timers lazily and would hold every finished call's entry
/// until its deadline). No allocation per entry beyond the heap array's growth; the loop's
/// `epoll_wait` sleeps until the earliest deadline. Loop-thread only.
struct DeadlineQueue {
    private struct Slot: HeapElement {
        let deadline: ContinuousClock.Instant
        let entry: any DeadlineEntry

        func placed(at index: Int) { entry.deadlineSlot = index }
    }

    private var heap: [Slot] = []

    var count: Int { heap.count }

    /// The earliest deadline queued.
    var nextDeadline: ContinuousClock.Instant? { heap.first?.deadline }

    /// Queues `entry` for `deadline` (an entry already queued is moved).
    mutating func insert(_ entry: any DeadlineEntry, at deadline: ContinuousClock.Instant) {
        if entry.deadlineSlot >= 0 { remove(entry) }
        heap.append(Slot(deadline: deadline, entry: entry))
        entry.deadlineSlot = heap.count - 1
        heap.heapSiftUp(heap.count - 1)
    }

    /// Takes `entry` out if it is queued.
    mutating func remove(_ entry: any DeadlineEntry) {
        let index = entry.deadlineSlot
        guard index >= 0, index < heap.count, heap[index].entry === entry else { return }
        entry.deadlineSlot = -1
        let last = heap.removeLast()
        guard index < heap.count else { return }
        heap[index] = last
        last.entry.deadlineSlot = index
        if index > 0, heap[index].deadline < heap[(index - 1) / 2].deadline {
            heap.heapSiftUp(index)
        } else {
            heap.heapSiftDown(index)
        }
    }

    /// Removes and returns every entry due at `now`, earliest first.
    mutating func popDue(now: ContinuousClock.Instant) -> [any DeadlineEntry] {
        var due: [any DeadlineEntry] = []
        while let first = heap.first, first.deadline <= now {
            remove(first.entry)
            due.append(first.entry)
        }
        return due
    }
}
