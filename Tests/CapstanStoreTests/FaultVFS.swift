import CSQLite
import CSQLiteFaultVFS
import Foundation

/// SQLite's extended result codes that tests inject (Swift does not import their macros).
enum SQLiteCode {
    static let full = SQLITE_FULL
    static let ioerrRead = SQLITE_IOERR | (1 << 8)
    static let ioerrWrite = SQLITE_IOERR | (3 << 8)
    static let ioerrFsync = SQLITE_IOERR | (4 << 8)
}

/// A fault-injecting SQLite VFS (`CSQLiteFaultVFS`) under a name of its own, for one test: open a
/// store with `vfsName = vfs.name`, then `arm` faults; `unregister` it at the end.
final class FaultVFS: @unchecked Sendable {
    // Sendable: `handle` never changes, and the C instance guards its state with its own mutex.
    struct Operations: OptionSet, Sendable {
        let rawValue: Int32
        static let write = Operations(rawValue: Int32(CSQLiteFaultVFS_write))
        static let sync = Operations(rawValue: Int32(CSQLiteFaultVFS_sync))
        static let read = Operations(rawValue: Int32(CSQLiteFaultVFS_read))
    }

    struct Files: OptionSet, Sendable {
        let rawValue: Int32
        static let database = Files(rawValue: Int32(CSQLiteFaultVFS_database))
        static let wal = Files(rawValue: Int32(CSQLiteFaultVFS_wal))
        static let all = Files(rawValue: 0xf)
    }

    struct CreateFailed: Error {}

    let name: String
    private let handle: OpaquePointer

    init() throws {
        name = "capstan-fault-\(UUID().uuidString)"
        guard let handle = CSQLiteFaultVFS_create(name) else { throw CreateFailed() }
        self.handle = handle
    }

    /// Of the `operations` on `files`, lets `skip` pass, then fails `count` (all, when nil) with `code`.
    func arm(_ operations: Operations, on files: Files, skip: Int = 0, count: Int? = 1, code: Int32) {
        CSQLiteFaultVFS_arm(handle, operations.rawValue, files.rawValue, Int32(skip), Int32(count ?? -1), code)
    }

    func disarm() { CSQLiteFaultVFS_disarm(handle) }

    /// Operations failed so far.
    var failures: Int { CSQLiteFaultVFS_failures(handle) }

    /// Operations of these kinds that passed so far.
    func passed(_ operations: Operations, on files: Files) -> Int {
        CSQLiteFaultVFS_passed(handle, operations.rawValue, files.rawValue)
    }

    func unregister() { CSQLiteFaultVFS_unregister(handle) }
}
