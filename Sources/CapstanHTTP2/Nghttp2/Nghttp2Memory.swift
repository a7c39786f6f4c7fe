internal import CNghttp2
import Glibc

/// The memory of the nghttp2 sessions on one loop: blocks of a few size classes kept on free
/// lists and reused, instead of a `malloc` and a `free` per nghttp2 allocation (about eight per
/// request: the stream, outbound items, header copies).
///
/// A loop frees a whole read's worth of streams at once, more blocks of one size than glibc's
/// per-thread cache holds (7), so most of those frees and the next batch's allocations went
/// through glibc's bins; here they are a push and a pop. Requests up to 1 KiB are rounded up to a
/// multiple of 32 bytes and each class keeps at most `maxPooled` free blocks (so at most about
/// 4 MiB per loop once a burst is over); larger requests go straight to `malloc`. Every
/// block starts with a 16-byte header holding its class (or, for a large block, its size), since
/// nghttp2's `free` does not pass the size.
///
/// Safety: used only on its loop's thread — every nghttp2 session that allocates from it is
/// created, driven and deleted there — and alive as long as any such session (each `Session`
/// retains it until it deleted its nghttp2 session).
final class Nghttp2Memory {
    private static let headerSize = 16
    /// Classes are multiples of this many bytes, up to `granule * classCount`.
    private static let granule = 32
    private static let classCount = 32
    /// Free blocks kept per class.
    static let maxPooled = 256
    /// The class of blocks that went straight to `malloc`.
    private static let largeClass = -1

    private struct FreeList {
        var head: UnsafeMutableRawPointer?
        var count: Int
    }

    /// One free list per class (a fixed block: no array checks on the hot path).
    private let lists: UnsafeMutablePointer<FreeList>

    init() {
        lists = .allocate(capacity: Self.classCount)
        lists.initialize(repeating: FreeList(head: nil, count: 0), count: Self.classCount)
    }

    deinit {
        for index in 0..<Self.classCount {
            var block = lists[index].head
            while let current = block {
                block = current.load(fromByteOffset: Self.headerSize, as: UnsafeMutableRawPointer?.self)
                free(current)
            }
        }
        lists.deallocate()
    }

    /// Free blocks held (for tests).
    var pooledCount: Int { (0..<Self.classCount).reduce(0) { $0 + lists[$1].count } }

    func allocate(_ size: Int) -> UnsafeMutableRawPointer? {
        let index = size <= Self.granule ? 0 : (size - 1) / Self.granule
        guard index < Self.classCount else {
            guard let block = malloc(Self.headerSize + size) else { return nil }
            block.storeBytes(of: Self.largeClass, as: Int.self)
            block.storeBytes(of: size, toByteOffset: MemoryLayout<Int>.stride, as: Int.self)
            return block + Self.headerSize
        }
        let list = lists + index
        if let block = list.pointee.head {
            list.pointee.head = block.load(fromByteOffset: Self.headerSize, as: UnsafeMutableRawPointer?.self)
            list.pointee.count -= 1
            return block + Self.headerSize
        }
        guard let block = malloc(Self.headerSize + (index + 1) * Self.granule) else { return nil }
        block.storeBytes(of: index, as: Int.self)
        return block + Self.headerSize
    }

    func deallocate(_ pointer: UnsafeMutableRawPointer?) {
        guard let pointer else { return }
        let block = pointer - Self.headerSize
        let index = block.load(as: Int.self)
        guard index != Self.largeClass, lists[index].count < Self.maxPooled else {
            free(block)
            return
        }
        let list = lists + index
        pointer.storeBytes(of: list.pointee.head, as: UnsafeMutableRawPointer?.self)
        list.pointee.head = block
        list.pointee.count += 1
    }

    func allocateZeroed(_ count: Int, _ size: Int) -> UnsafeMutableRawPointer? {
        let (total, overflow) = count.multipliedReportingOverflow(by: size)
        guard !overflow, let pointer = allocate(total) else { return nil }
        memset(pointer, 0, total)
        return pointer
    }

    func reallocate(_ pointer: UnsafeMutableRawPointer?, _ size: Int) -> UnsafeMutableRawPointer? {
        guard let pointer else { return allocate(size) }
        let block = pointer - Self.headerSize
        let index = block.load(as: Int.self)
        let usable = index == Self.largeClass
            ? block.load(fromByteOffset: MemoryLayout<Int>.stride, as: Int.self) : (index + 1) * Self.granule
        if index != Self.largeClass, size <= usable { return pointer }
        guard let moved = allocate(size) else { return nil }
        moved.copyMemory(from: pointer, byteCount: min(usable, size))
        deallocate(pointer)
        return moved
    }

    /// The `nghttp2_mem` that allocates from `memory` (which must stay alive while it is used).
    static func nghttp2Mem(_ memory: Unmanaged<Nghttp2Memory>) -> nghttp2_mem {
        nghttp2_mem(
            mem_user_data: memory.toOpaque(),
            malloc: { size, user in
                Unmanaged<Nghttp2Memory>.fromOpaque(user!)._withUnsafeGuaranteedRef { $0.allocate(size) }
            },
            free: { pointer, user in
                Unmanaged<Nghttp2Memory>.fromOpaque(user!)._withUnsafeGuaranteedRef { $0.deallocate(pointer) }
            },
            calloc: { count, size, user in
                Unmanaged<Nghttp2Memory>.fromOpaque(user!)._withUnsafeGuaranteedRef { $0.allocateZeroed(count, size) }
            },
            realloc: { pointer, size, user in
                Unmanaged<Nghttp2Memory>.fromOpaque(user!)._withUnsafeGuaranteedRef { $0.reallocate(pointer, size) }
            })
    }
}
