internal import CSQLite
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Coalesces the writer connection's WAL writes into one write per commit, beneath SQLite.
///
/// SQLite appends a commit to the WAL as two `pwrite`s per page (a 24-byte frame header, then the
/// page), each straddling two of the kernel's page-cache pages; a group commit of a few dozen pages
/// made about fifty system calls, a quarter of the writer thread's CPU. This VFS wraps another
/// (SQLite's default, or `SQLiteStoreOptions.vfsName`): files other than WALs are the wrapped VFS's
/// own; on a WAL, writes that continue the previous one are gathered in a buffer and written with
/// one call (`xWrite` of the wrapped VFS, at most `largestWrite` bytes) before anything that needs them in the file: an `xSync`,
/// a read, a truncation, a size query, a write elsewhere, a full buffer, or closing.
///
/// Durability and what other connections see do not change, because the writer's connection runs
/// with `synchronous = FULL` (checked when it opens): every commit syncs the WAL before SQLite
/// publishes the commit in the WAL index and before the writer acknowledges it, and the sync writes
/// the buffer first. A failed buffered write fails that sync, so the COMMIT fails as it did when the
/// write failed, with the write's error code; the buffer is then dropped, never written later (SQLite
/// writes the next commit over the same place). Each file handle is used by one thread at a time
/// (SQLite serialises a connection), so the buffer needs no lock.
enum WALWriteBuffer {
    /// Wrapping VFSes registered so far, by the wrapped VFS's name and the buffer size. They stay
    /// registered for the life of the process (SQLite keeps pointers to them in open connections).
    private static let registered = Mutex<[String: String]>([:])

    /// The name of the coalescing VFS over `base` (nil: SQLite's default VFS) with buffers of
    /// `bufferBytes`, registering it on first use.
    static func vfsName(over base: String?, bufferBytes: Int) throws(StoreError) -> String {
        let key = "\(base ?? "")|\(bufferBytes)"
        _ = PageCache.installed
        let result: Result<String, StoreError> = registered.withLock { names in
            if let name = names[key] { return .success(name) }
            guard let wrapped = sqlite3_vfs_find(base) else {
                return .failure(.unavailable(reason: "no SQLite VFS named \(base ?? "(default)") is registered"))
            }
            let name = "capstan-wal-buffer-\(names.count)-\(bufferBytes)-\(String(cString: wrapped.pointee.zName))"
            let context = Context(wrapped: wrapped, bufferBytes: bufferBytes)
            let vfs = UnsafeMutablePointer<sqlite3_vfs>.allocate(capacity: 1)
            vfs.initialize(to: makeVFS(wrapping: wrapped, name: name, context: context))
            let code = sqlite3_vfs_register(vfs, 0)
            guard code == SQLITE_OK else {
                return .failure(.unavailable(reason: "cannot register the WAL write buffer VFS (SQLite code \(code))"))
            }
            names[key] = name
            return .success(name)
        }
        return try result.get()
    }

    /// What the VFS's functions need: the wrapped VFS, the buffer size, and the WAL files' methods.
    /// Retained for the life of the process through `pAppData`.
    private final class Context {
        let wrapped: UnsafeMutablePointer<sqlite3_vfs>
        let bufferBytes: Int
        let methods: UnsafeMutablePointer<sqlite3_io_methods>

        init(wrapped: UnsafeMutablePointer<sqlite3_vfs>, bufferBytes: Int) {
            self.wrapped = wrapped
            self.bufferBytes = min(max(4096, bufferBytes), WALWriteBuffer.largestWrite)
            methods = .allocate(capacity: 1)
            methods.initialize(to: WALWriteBuffer.walMethods())
        }

        static func of(_ vfs: UnsafeMutablePointer<sqlite3_vfs>?) -> Context {
            Unmanaged<Context>.fromOpaque(vfs!.pointee.pAppData).takeUnretainedValue()
        }
    }

    /// One open WAL: the wrapped VFS's file and the pending bytes, which go at `start` in the file.
    /// A struct in memory of its own (allocated at open, freed at close), not a class: the methods
    /// run on every page SQLite writes, and reaching a class instance retained and released it.
    private struct Buffer {
        let file: UnsafeMutablePointer<sqlite3_file>
        let storage: UnsafeMutableRawPointer
        let capacity: Int
        var start: Int64 = 0
        var count = 0

        init(file: UnsafeMutablePointer<sqlite3_file>, capacity: Int) {
            self.file = file
            self.capacity = capacity
            storage = .allocate(byteCount: capacity, alignment: 16)
        }

        /// Writes the pending bytes with one call; drops them whether or not it succeeds.
        mutating func flush() -> Int32 {
            guard count > 0 else { return SQLITE_OK }
            let bytes = Int32(count)
            count = 0
            return file.pointee.pMethods.pointee.xWrite(file, storage, bytes, start)
        }
    }

    /// The most one buffer holds: SQLite's unix VFS writes at most 128 KiB - 1 bytes per call
    /// (larger writes come out short, and it reports a full disk), so a buffer is 31 pages at most.
    static let largestWrite = 31 * 4096

    /// Our part of a WAL's `sqlite3_file`: the methods pointer SQLite reads, then the `Buffer`; the
    /// wrapped VFS's file follows.
    private static let headerBytes = 2 * MemoryLayout<UnsafeRawPointer>.stride

    private static func wrappedFile(_ file: UnsafeMutablePointer<sqlite3_file>) -> UnsafeMutablePointer<sqlite3_file> {
        (UnsafeMutableRawPointer(file) + headerBytes).assumingMemoryBound(to: sqlite3_file.self)
    }

    private static func buffer(_ file: UnsafeMutablePointer<sqlite3_file>?) -> UnsafeMutablePointer<Buffer> {
        UnsafeMutableRawPointer(file!).load(
            fromByteOffset: MemoryLayout<UnsafeRawPointer>.stride, as: UnsafeMutablePointer<Buffer>.self)
    }

    private static func makeVFS(wrapping wrapped: UnsafeMutablePointer<sqlite3_vfs>, name: String, context: Context)
        -> sqlite3_vfs
    {
        var vfs = sqlite3_vfs()
        vfs.iVersion = min(2, wrapped.pointee.iVersion)
        vfs.szOsFile = Int32(headerBytes) + ((wrapped.pointee.szOsFile + 7) & ~7)
        vfs.mxPathname = wrapped.pointee.mxPathname
        vfs.zName = UnsafePointer(strdup(name))
        vfs.pAppData = Unmanaged.passRetained(context).toOpaque()
        vfs.xOpen = { vfs, name, file, flags, outFlags in
            let context = Context.of(vfs)
            let wrapped = context.wrapped
            guard flags & SQLITE_OPEN_WAL != 0, let file else {
                return wrapped.pointee.xOpen(wrapped, name, file, flags, outFlags)
            }
            file.pointee.pMethods = nil
            let inner = WALWriteBuffer.wrappedFile(file)
            inner.pointee.pMethods = nil
            let code = wrapped.pointee.xOpen(wrapped, name, inner, flags, outFlags)
            guard code == SQLITE_OK else {
                if inner.pointee.pMethods != nil { _ = inner.pointee.pMethods.pointee.xClose(inner) }
                return code
            }
            let buffer = UnsafeMutablePointer<Buffer>.allocate(capacity: 1)
            buffer.initialize(to: Buffer(file: inner, capacity: context.bufferBytes))
            UnsafeMutableRawPointer(file).storeBytes(
                of: buffer, toByteOffset: MemoryLayout<UnsafeRawPointer>.stride, as: UnsafeMutablePointer<Buffer>.self)
            file.pointee.pMethods = UnsafePointer(context.methods)
            return SQLITE_OK
        }
        // The rest is the wrapped VFS's, called with its own `sqlite3_vfs`.
        vfs.xDelete = { vfs, name, syncDirectory in
            let wrapped = Context.of(vfs).wrapped
            return wrapped.pointee.xDelete(wrapped, name, syncDirectory)
        }
        vfs.xAccess = { vfs, name, flags, result in
            let wrapped = Context.of(vfs).wrapped
            return wrapped.pointee.xAccess(wrapped, name, flags, result)
        }
        vfs.xFullPathname = { vfs, name, count, output in
            let wrapped = Context.of(vfs).wrapped
            return wrapped.pointee.xFullPathname(wrapped, name, count, output)
        }
        vfs.xDlOpen = { vfs, name in
            let wrapped = Context.of(vfs).wrapped
            return wrapped.pointee.xDlOpen(wrapped, name)
        }
        vfs.xDlError = { vfs, count, message in
            let wrapped = Context.of(vfs).wrapped
            wrapped.pointee.xDlError(wrapped, count, message)
        }
        vfs.xDlSym = { vfs, handle, symbol in
            let wrapped = Context.of(vfs).wrapped
            return wrapped.pointee.xDlSym(wrapped, handle, symbol)
        }
        vfs.xDlClose = { vfs, handle in
            let wrapped = Context.of(vfs).wrapped
            wrapped.pointee.xDlClose(wrapped, handle)
        }
        vfs.xRandomness = { vfs, count, output in
            let wrapped = Context.of(vfs).wrapped
            return wrapped.pointee.xRandomness(wrapped, count, output)
        }
        vfs.xSleep = { vfs, microseconds in
            let wrapped = Context.of(vfs).wrapped
            return wrapped.pointee.xSleep(wrapped, microseconds)
        }
        vfs.xCurrentTime = { vfs, time in
            let wrapped = Context.of(vfs).wrapped
            return wrapped.pointee.xCurrentTime(wrapped, time)
        }
        vfs.xGetLastError = { vfs, count, message in
            let wrapped = Context.of(vfs).wrapped
            return wrapped.pointee.xGetLastError(wrapped, count, message)
        }
        if vfs.iVersion >= 2 {
            vfs.xCurrentTimeInt64 = { vfs, time in
                let wrapped = Context.of(vfs).wrapped
                return wrapped.pointee.xCurrentTimeInt64(wrapped, time)
            }
        }
        return vfs
    }

    /// Writes out `file`'s buffer, then (if that worked) calls `body` with the wrapped file and its
    /// methods: for every method that needs the bytes in the file first.
    private static func afterFlushing(
        _ file: UnsafeMutablePointer<sqlite3_file>?, _ body: (UnsafeMutablePointer<sqlite3_file>, sqlite3_io_methods) -> Int32
    ) -> Int32 {
        let buffer = buffer(file)
        let flushed = buffer.pointee.flush()
        if flushed != SQLITE_OK { return flushed }
        let inner = buffer.pointee.file
        return body(inner, inner.pointee.pMethods.pointee)
    }

    /// A WAL's methods (version 1: SQLite maps shared memory and pages through the database file only).
    private static func walMethods() -> sqlite3_io_methods {
        var methods = sqlite3_io_methods()
        methods.iVersion = 1
        methods.xClose = { file in
            let buffer = WALWriteBuffer.buffer(file)
            let flushed = buffer.pointee.flush()
            let inner = buffer.pointee.file
            let closed = inner.pointee.pMethods.pointee.xClose(inner)
            buffer.pointee.storage.deallocate()
            buffer.deinitialize(count: 1)
            buffer.deallocate()
            return flushed != SQLITE_OK ? flushed : closed
        }
        methods.xRead = { file, output, count, offset in
            WALWriteBuffer.afterFlushing(file) { $1.xRead($0, output, count, offset) }
        }
        methods.xWrite = { file, bytes, count, offset in
            let buffer = WALWriteBuffer.buffer(file)
            let length = Int(count)
            let pending = buffer.pointee.count
            if pending > 0, offset == buffer.pointee.start + Int64(pending), pending + length <= buffer.pointee.capacity,
                let bytes
            {
                (buffer.pointee.storage + pending).copyMemory(from: bytes, byteCount: length)
                buffer.pointee.count = pending + length
                return SQLITE_OK
            }
            let flushed = buffer.pointee.flush()
            if flushed != SQLITE_OK { return flushed }
            guard length < buffer.pointee.capacity, let bytes else {
                let inner = buffer.pointee.file
                return inner.pointee.pMethods.pointee.xWrite(inner, bytes, count, offset)
            }
            buffer.pointee.storage.copyMemory(from: bytes, byteCount: length)
            buffer.pointee.start = offset
            buffer.pointee.count = length
            return SQLITE_OK
        }
        methods.xTruncate = { file, size in
            WALWriteBuffer.afterFlushing(file) { $1.xTruncate($0, size) }
        }
        methods.xSync = { file, flags in
            WALWriteBuffer.afterFlushing(file) { $1.xSync($0, flags) }
        }
        methods.xFileSize = { file, size in
            WALWriteBuffer.afterFlushing(file) { $1.xFileSize($0, size) }
        }
        methods.xLock = { file, level in
            let inner = WALWriteBuffer.buffer(file).pointee.file
            return inner.pointee.pMethods.pointee.xLock(inner, level)
        }
        methods.xUnlock = { file, level in
            let inner = WALWriteBuffer.buffer(file).pointee.file
            return inner.pointee.pMethods.pointee.xUnlock(inner, level)
        }
        methods.xCheckReservedLock = { file, result in
            let inner = WALWriteBuffer.buffer(file).pointee.file
            return inner.pointee.pMethods.pointee.xCheckReservedLock(inner, result)
        }
        methods.xFileControl = { file, operation, argument in
            let inner = WALWriteBuffer.buffer(file).pointee.file
            return inner.pointee.pMethods.pointee.xFileControl(inner, operation, argument)
        }
        methods.xSectorSize = { file in
            let inner = WALWriteBuffer.buffer(file).pointee.file
            return inner.pointee.pMethods.pointee.xSectorSize(inner)
        }
        methods.xDeviceCharacteristics = { file in
            let inner = WALWriteBuffer.buffer(file).pointee.file
            return inner.pointee.pMethods.pointee.xDeviceCharacteristics(inner)
        }
        return methods
    }
}
