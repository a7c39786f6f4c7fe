@testable import CapstanAPIServer
import Testing
import CapstanTestSupport

/// The watch cache's ordered key index against a plain sorted array.
@Suite("Ordered keys")
struct OrderedKeysTests {

    static func precedes(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    /// The reference: the first index in `sorted` not before `key`.
    static func lowerBound(_ key: String, in sorted: [String]) -> Int {
        var (low, high) = (0, sorted.count)
        while low < high {
            let middle = (low + high) / 2
            if precedes(sorted[middle], key) { low = middle + 1 } else { high = middle }
        }
        return low
    }

    @Test("keys compare in byte order, also where Unicode order differs")
    func byteOrder() {
        // "e" + U+0301 is canonically equal to "é" (U+00E9), which String's `<` honours; the
        // store orders the bytes 65 cc 81 before c3 a9.
        let samples = ["", "a", "ab", "b", "z", "é", "e\u{301}", "f", "/registry/pods/a", "/registry/pods/a/b", "ü", "\u{10FFFF}"]
        for a in samples {
            for b in samples {
                #expect(OrderedKeys.precedes(a, b) == Self.precedes(a, b), "\(a) vs \(b)")
            }
        }
        #expect(OrderedKeys.precedes("e\u{301}", "é") && !("e\u{301}" < "é" || "é" < "e\u{301}"))
    }

    @Test("random inserts and deletes keep the same keys in the same order as a sorted array", arguments: [1, 2, 3])
    func randomOperations(seed: UInt64) {
        var random = SplitMix(state: seed)
        var keys = OrderedKeys()
        var reference: [String] = []
        // Keys from a small space so inserts hit existing keys and deletes hit present ones; bytes
        // above ASCII check byte order (not Unicode order).
        let namespaces = ["a", "b", "ns", "zz", "é"]
        for step in 0..<8_000 {
            let key = "/registry/pods/\(namespaces.randomElement(using: &random)!)/p\(Int.random(in: 0..<1_000, using: &random))"
            // Grow for the first half, then delete more often than insert.
            let insert = Int.random(in: 0..<10, using: &random) < (step < 4_000 ? 7 : 3)
            let at = Self.lowerBound(key, in: reference)
            let present = at < reference.count && reference[at] == key
            if insert {
                let inserted = keys.insert(key)
                #expect(inserted == !present)
                if !present { reference.insert(key, at: at) }
            } else {
                let removed = keys.remove(key)
                #expect(removed == present)
                if present { reference.remove(at: at) }
            }
            if step % 500 == 499 {
                #expect(Array(keys) == reference)
                #expect(keys.count == reference.count)
            }
        }
        #expect(Array(keys) == reference)
        // Lower bounds land on the same key as in the array, for present and absent probes.
        for probe in ["", "/registry/pods/", "/registry/pods/b/", "/registry/pods/b/p1", "/registry/pods/ns/p999\u{0}", "/registry/pods/zz/", "\u{FFFF}"] {
            let index = keys.lowerBound(probe)
            let expected = Self.lowerBound(probe, in: reference)
            if expected == reference.count {
                #expect(index == keys.endIndex)
            } else {
                #expect(keys[index] == reference[expected])
                #expect(Array(keys[index...]) == Array(reference[expected...]))
            }
        }
    }

    @Test("a sorted listing splits into chunks and survives deleting every key")
    func bulkLoadAndDrain() {
        let sorted = (0..<5_000).map { "/registry/pods/default/p\(String($0 + 100_000))" }
        var keys = OrderedKeys(sorted: sorted)
        #expect(Array(keys) == sorted && keys.count == 5_000)
        var remaining = sorted
        var random = SplitMix(state: 9)
        remaining.shuffle(using: &random)
        for (removed, key) in remaining.enumerated() {
            let wasPresent = keys.remove(key)
            #expect(wasPresent)
            if removed % 500 == 0 { #expect(keys.count == 5_000 - removed - 1) }
        }
        #expect(keys.isEmpty && Array(keys).isEmpty && keys.lowerBound("") == keys.endIndex)
        let removedAgain = keys.remove("/registry/pods/default/p100000")
        #expect(!removedAgain)
        let inserted = keys.insert("k")
        #expect(inserted && Array(keys) == ["k"])
    }

    @Test("keys that share long prefixes, contain NUL bytes or are prefixes of each other stay ordered", arguments: [4, 5])
    func tiedHeads(seed: UInt64) {
        var random = SplitMix(state: seed)
        var keys = OrderedKeys()
        var reference: [String] = []
        // Names of one replica set share 28 bytes after the namespace; short and NUL-padded
        // suffixes make equal 8-byte heads that only the keys themselves order.
        let stems = ["nginx-deployment-7fb96c846b-", "nginx-deployment-7fb96c846b-x", "a", "", "b\u{0}", "b\u{0}\u{0}"]
        let tails = ["", "\u{0}", "\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}z", "x2k4p", "x2k4p\u{0}", "é", "e\u{301}"]
        for step in 0..<6_000 {
            let namespace = ["default", "kube-system", "d"].randomElement(using: &random)!
            let stem = stems.randomElement(using: &random)!
            let tail = tails.randomElement(using: &random)!
            let key = "/registry/pods/\(namespace)/\(stem)\(Int.random(in: 0..<60, using: &random))\(tail)"
            let insert = Int.random(in: 0..<10, using: &random) < (step < 3_000 ? 7 : 3)
            let at = Self.lowerBound(key, in: reference)
            let present = at < reference.count && reference[at].utf8.elementsEqual(key.utf8)
            if insert {
                let inserted = keys.insert(key)
                #expect(inserted == !present, "\(key.debugDescription)")
                if !present { reference.insert(key, at: at) }
            } else {
                let removed = keys.remove(key)
                #expect(removed == present, "\(key.debugDescription)")
                if present { reference.remove(at: at) }
            }
            if step % 300 == 299 {
                #expect(Array(keys).map { Array($0.utf8) } == reference.map { Array($0.utf8) })
            }
        }
        #expect(Array(keys).map { Array($0.utf8) } == reference.map { Array($0.utf8) })
        for probe in ["/registry/pods/d/", "/registry/pods/d/\u{0}", "/registry/pods/default/nginx-deployment-7fb96c846b-", "/registry/pods/e"] {
            let index = keys.lowerBound(probe)
            let expected = Self.lowerBound(probe, in: reference)
            if expected == reference.count {
                #expect(index == keys.endIndex)
            } else {
                #expect(keys[index].utf8.elementsEqual(reference[expected].utf8))
            }
        }
    }

    @Test("finding a key's place reads a few stored keys, not one per step of a binary search")
    func fewKeyReads() {
        // Creates from 16 writers interleave all over the order (as `bench-api --only creates`).
        var keys = OrderedKeys()
        for iteration in 0..<2_500 {
            for writer in 0..<16 { keys.insert("/registry/pods/creates/c-\(writer)-\(iteration)") }
        }
        // And pods of replica sets across namespaces, whose names share long prefixes.
        for namespace in ["default", "kube-system", "web"] {
            for set in ["api-7fb96c846b", "api-5d9f8c7b4d", "worker-6c8d7f9b5c"] {
                for replica in 0..<400 { keys.insert("/registry/pods/\(namespace)/\(set)-\(String(replica * 7919 % 100_000, radix: 36))") }
            }
        }
        #expect(keys.count == 40_000 + 3_600)
        var total = 0
        var mostForCreates = 0
        for iteration in stride(from: 1, to: 2_500, by: 97) {
            let reads = keys.keyReads(toFind: "/registry/pods/creates/c-\(iteration % 16)-\(iteration + 2_500)")
            mostForCreates = max(mostForCreates, reads)
            total += reads + keys.keyReads(toFind: "/registry/pods/web/api-5d9f8c7b4d-\(iteration)z")
        }
        // A plain binary search over 43,600 keys reads about 16 of them. The heads leave the
        // first key of the set, and a few more where equal heads must be told apart: in a chunk
        // that spans two namespaces ("kube-system/…" to "web/…") the shared prefix ends before
        // the namespace, and the 16 bytes after it do not reach the pod's own part of the name.
        #expect(mostForCreates <= 2, "at most \(mostForCreates) key reads for a create")
        #expect(total <= 3 * 52, "\(total) key reads for 52 probes")
    }
}
