@testable import CapstanHTTP2
import CapstanTestSupport
import Testing

@Suite("StreamTable")
struct StreamTableTests {
    final class Box {
        let id: Int32
        init(_ id: Int32) { self.id = id }
    }

    /// Random inserts, lookups and removals, checked step by step against a `Dictionary`
    /// (growth and backward-shift deletion included: ids collide in the small table).
    @Test(arguments: [UInt64(1), 2, 3, 4])
    func agreesWithADictionary(seed: UInt64) {
        var table = StreamTable<Box>()
        var reference: [Int32: Box] = [:]
        var random = SplitMix(state: seed)
        for _ in 0..<20_000 {
            // Odd ids as clients use, from a small range so they repeat and collide.
            let id = Int32(random.next() % 600) * 2 + 1
            switch random.next() % 3 {
            case 0:
                let box = Box(id)
                table[id] = box
                reference[id] = box
            case 1:
                #expect(table.removeValue(forKey: id) === reference.removeValue(forKey: id))
            default:
                #expect(table[id] === reference[id])
            }
            #expect(table.count == reference.count)
        }
        for (id, box) in reference { #expect(table[id] === box) }
        #expect(Set(table.allValues.map(\.id)) == Set(reference.keys))
        table.removeAll()
        #expect(table.isEmpty)
        for id in reference.keys { #expect(table[id] == nil) }
    }

    @Test func missingIdsAndReplacement() {
        var table = StreamTable<Box>()
        #expect(table[1] == nil)
        #expect(table.removeValue(forKey: 3) == nil)
        let first = Box(5)
        let second = Box(5)
        table[5] = first
        table[5] = second
        #expect(table.count == 1)
        #expect(table[5] === second)
        table[5] = nil
        #expect(table.isEmpty)
        #expect(table[5] == nil)
    }
}
