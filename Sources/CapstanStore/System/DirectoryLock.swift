#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive `flock` on `<directory>/LOCK`, holding the owner's pid, so that two stores (in one
/// process or several) never open one data directory at once. Released by `unlock()` or when the
/// process dies.
final class DirectoryLock: Sendable {
    let path: String
    private let descriptor: Int32

    /// How long `acquire` keeps trying a held lock before it reports the directory in use: long
    /// enough to outlast a holder that has just let go (a process still exiting, or a child forked
    /// by another thread that holds a copy of the descriptor until it execs), short enough that an
    /// operator starting a second server hears at once that the first one holds the directory.
    static let defaultPatience: Duration = .seconds(1)

    /// Creates the directory if missing, then takes the lock, retrying a held lock for `patience`.
    static func acquire(directory: String, patience: Duration = defaultPatience) async throws(StoreError)
        -> DirectoryLock
    {
        let clock = ContinuousClock()
        let deadline = clock.now + patience
        while true {
            do {
                return try DirectoryLock(directory: directory)
            } catch let held as HeldError {
                guard clock.now < deadline else { throw held.error }
                try? await Task.sleep(for: .milliseconds(10))
            } catch let error as StoreError {
                throw error
            } catch {
                throw .unavailable(reason: "cannot lock the data directory \(directory): \(error)")
            }
        }
    }

    /// The lock is held by someone else (`error` is what to report if it stays held).
    private struct HeldError: Error {
        let error: StoreError
    }

    /// Creates the directory if missing, then takes the lock without waiting.
    private init(directory: String) throws(any Error) {
        let path = directory + "/LOCK"
        self.path = path
        do {
            try Self.makeDirectory(directory)
            descriptor = try systemCall("open(\(path))") { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        } catch {
            throw StoreError.unavailable(reason: "cannot open the data directory \(directory): \(error)")
        }
        let descriptor = descriptor
        do {
            try systemCall("flock") { flock(descriptor, LOCK_EX | LOCK_NB) }
        } catch {
            let holder = Self.readHolder(descriptor)
            close(descriptor)
            if error.errno == EWOULDBLOCK {
                throw HeldError(error: .unavailable(
                    reason: "data directory \(directory) is in use by another store"
                        + (holder.map { " (pid \($0))" } ?? "") + "; stop it first"))
            }
            throw StoreError.unavailable(reason: "cannot lock \(path): \(error)")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = try? systemCall("ftruncate") { ftruncate(descriptor, 0) }
        _ = pid.withUnsafeBytes { bytes in
            try? systemCall("pwrite") { pwrite(descriptor, bytes.baseAddress, bytes.count, 0) }
        }
    }

    /// Releases the lock. `LOCK_UN` first: closing alone would leave it held while a child forked
    /// at this moment by another thread still holds a copy of the descriptor.
    func unlock() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }

    /// Creates the empty file `path` readable and writable by its owner only (0600), unless it
    /// exists: a database file SQLite would create 0644, and its WAL and shared-memory files
    /// take the database file's mode, so in a directory others can read the state stays private.
    static func createOwnerOnly(_ path: String) throws(StoreError) {
        do {
            let descriptor = try systemCall("open(\(path))") { open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
            close(descriptor)
        } catch where error.errno == EEXIST {
            return
        } catch {
            throw StoreError.unavailable(reason: "cannot create \(path): \(error)")
        }
    }

    /// Creates `directory` with mode 0700 (it holds the cluster's state: only its owner may read
    /// it) and any missing parents with 0755, as `mkdir -p` would; both less the umask. A
    /// directory that exists is left as it is.
    private static func makeDirectory(_ directory: String) throws(SystemCallError) {
        var status = stat()
        if stat(directory, &status) == 0 { return }
        try makeDirectory(directory, mode: 0o700)
    }

    /// `mkdir(path, mode)`, first making the missing parents (0755) when it fails for want of one.
    private static func makeDirectory(_ path: String, mode: mode_t) throws(SystemCallError) {
        do {
            try systemCall("mkdir(\(path))") { mkdir(path, mode) }
        } catch where error.errno == EEXIST {
            return
        } catch where error.errno == ENOENT {
            guard let parent = parentDirectory(of: path) else { throw error }
            try makeDirectory(parent, mode: 0o755)
            do {
                try systemCall("mkdir(\(path))") { mkdir(path, mode) }
            } catch where error.errno == EEXIST {
                return
            }
        }
    }

    /// `path` without its last component (`/` for a top-level one); nil for a single relative
    /// component, whose parent (the working directory) exists.
    static func parentDirectory(of path: String) -> String? {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return nil }
        let parent = trimmed[..<slash]
        guard !parent.isEmpty else { return trimmed == "/" ? nil : "/" }
        return String(parent)
    }

    /// The pid written by the current holder, when readable.
    private static func readHolder(_ descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { bytes in
            (try? systemCall("pread") { pread(descriptor, bytes.baseAddress, bytes.count, 0) }) ?? 0
        }
        let text = String(decoding: buffer[0..<max(0, count)], as: UTF8.self)
        return Int32(text.trimmingWhitespace())
    }
}

extension String {
    func trimmingWhitespace() -> String {
        String(self.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
