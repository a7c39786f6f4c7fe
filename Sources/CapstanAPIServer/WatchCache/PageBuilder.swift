/// A page being filled: matching objects up to the limit and the byte budget (at least one).
struct PageBuilder {
    let filter: ObjectFilter
    let limit: Int
    let byteBudget: Int
    private(set) var items: [CachedObject] = []
    private var bytes = 0

    init(filter: ObjectFilter, limit: Int, byteBudget: Int) {
        self.filter = filter
        self.limit = limit
        self.byteBudget = byteBudget
    }

    /// Adds `object` if it matches; true when it matches but the page is already full (so more
    /// follow the page).
    mutating func offer(_ object: CachedObject) -> Bool {
        guard filter.matches(object) else { return false }
        let size = ProtoBytes.listItemSize(object.bytes)
        if items.count == limit || (!items.isEmpty && bytes + size > byteBudget) { return true }
        items.append(object)
        bytes += size
        return false
    }
}
