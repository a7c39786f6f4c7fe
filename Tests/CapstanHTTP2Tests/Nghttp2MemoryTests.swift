@testable import CapstanHTTP2
import Testing

@Suite("nghttp2 memory pool")
struct Nghttp2MemoryTests {
    @Test func freedBlocksAreReusedForTheSameClassAndLargeOnesAreNotPooled() throws {
        let memory = Nghttp2Memory()
        let first = try #require(memory.allocate(100))
        memory.deallocate(first)
        #expect(memory.pooledCount == 1)
        // 100 and 120 bytes share a 32-byte class: the freed block comes back.
        let again = try #require(memory.allocate(120))
        #expect(again == first)
        #expect(memory.pooledCount == 0)
        let large = try #require(memory.allocate(64 * 1024))
        memory.deallocate(large)
        memory.deallocate(again)
        memory.deallocate(nil)
        #expect(memory.pooledCount == 1)
    }

    @Test func blocksHoldWhatIsWrittenAndReallocationKeepsIt() throws {
        let memory = Nghttp2Memory()
        var blocks: [(UnsafeMutableRawPointer, Int)] = []
        for size in [1, 31, 32, 33, 500, 1024, 1025, 5000] {
            let block = try #require(memory.allocate(size))
            for offset in 0..<size { block.storeBytes(of: UInt8(truncatingIfNeeded: offset &+ size), toByteOffset: offset, as: UInt8.self) }
            blocks.append((block, size))
        }
        for (block, size) in blocks {
            for offset in 0..<size {
                #expect(block.load(fromByteOffset: offset, as: UInt8.self) == UInt8(truncatingIfNeeded: offset &+ size))
            }
        }
        let (small, smallSize) = blocks[4]
        let grown = try #require(memory.reallocate(small, 3000))
        for offset in 0..<smallSize {
            #expect(grown.load(fromByteOffset: offset, as: UInt8.self) == UInt8(truncatingIfNeeded: offset &+ smallSize))
        }
        blocks[4] = (grown, 3000)
        let zeroed = try #require(memory.allocateZeroed(10, 48))
        #expect((0..<480).allSatisfy { zeroed.load(fromByteOffset: $0, as: UInt8.self) == 0 })
        memory.deallocate(zeroed)
        #expect(memory.allocateZeroed(Int.max, 2) == nil)
        for (block, _) in blocks { memory.deallocate(block) }
    }

    @Test func eachClassKeepsABoundedNumberOfFreeBlocks() throws {
        let memory = Nghttp2Memory()
        var blocks: [UnsafeMutableRawPointer] = []
        for _ in 0..<(Nghttp2Memory.maxPooled + 50) { blocks.append(try #require(memory.allocate(64))) }
        for block in blocks { memory.deallocate(block) }
        #expect(memory.pooledCount == Nghttp2Memory.maxPooled)
    }
}
