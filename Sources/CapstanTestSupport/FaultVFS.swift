import CSQLite
import CSQLiteFaultVFS
import CSQLitePageCache
import Foundation

/// SQLite's extended result codes that tests inject (Swift does not import their macros).
public enum SQLiteCode {
    public static let full = SQLITE_FULL
    public static let ioerrRead = SQLITE_IOERR | (1 << 8)
    public static let ioerrWrite = SQLITE_IOERR | (3 << 8)
    public static let ioerrFsync = SQLITE_IOERR | (4 << 8)
}

/// A fault-injecting SQLite VFS (`CSQLiteFaultVFS`) under a name of its own, for one test: open a
/// store with `vfsName = vfs.name`, then `arm` faults; `unregister` it at the end.
public final class FaultVFS: @unchecked Sendable {
    // Sendable: `handle` never changes, and the C instance guards its state with its own mutex.
    public struct Operations: OptionSet, Sendable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let write = Operations(rawValue: Int32(CSQLiteFaultVFS_write))
        public static let sync = Operations(rawValue: Int32(CSQLiteFaultVFS_sync))
        public static let read = Operations(rawValue: Int32(CSQLiteFaultVFS_read))
    }

    public struct Files: OptionSet, Sendable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let database = Files(rawValue: Int32(CSQLiteFaultVFS_database))
        public static let wal = Files(rawValue: Int32(CSQLiteFaultVFS_wal))
        public static let all = Files(rawValue: 0xf)
    }

    public struct CreateFailed: Error {}

    public let name: String
    private let handle: OpaquePointer

    public init() throws {
        // Before this VFS initializes SQLite: the store's page cache must be configured first.
        _ = CSQLitePageCache_install()
        name = "capstan-fault-\(UUID().uuidString)"
        guard let handle = CSQLiteFaultVFS_create(name) else { throw CreateFailed() }
        self.handle = handle
    }

    /// Of the `operations` on `files`, lets `skip` pass, then fails `count` (all, when nil) with `code`.
    public func arm(_ operations: Operations, on files: Files, skip: Int = 0, count: Int? = 1, code: Int32) {
        CSQLiteFaultVFS_arm(handle, operations.rawValue, files.rawValue, Int32(skip), Int32(count ?? -1), code)
    }

    public func disarm() { CSQLiteFaultVFS_disarm(handle) }

    /// Operations failed so far.
    public var failures: Int { CSQLiteFaultVFS_failures(handle) }

    /// Operations of these kinds that passed so far.
    public func passed(_ operations: Operations, on files: Files) -> Int {
        CSQLiteFaultVFS_passed(handle, operations.rawValue, files.rawValue)
    }

    public func unregister() { CSQLiteFaultVFS_unregister(handle) }
}
