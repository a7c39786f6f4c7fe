extension FIFO {
    /// The first `limit` elements at most (all when fewer), removed.
    mutating func popFirst(upTo limit: Int) -> [Element] {
        var taken: [Element] = []
        taken.reserveCapacity(Swift.min(count, Swift.max(0, limit)))
        while taken.count < limit, let element = popFirst() { taken.append(element) }
        return taken
    }
}
