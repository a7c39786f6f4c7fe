#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The first `limit` bytes of the file at `path`, or nil when it cannot be opened or read.
func readSmallFile(_ path: String, limit: Int) -> [UInt8]? {
    guard let descriptor = try? systemCall("open(\(path))", { open(path, O_RDONLY | O_CLOEXEC) }) else { return nil }
    defer { close(descriptor) }
    var buffer = [UInt8](repeating: 0, count: limit)
    let count = buffer.withUnsafeMutableBytes { bytes in
        (try? systemCall("read(\(path))") { read(descriptor, bytes.baseAddress, bytes.count) }) ?? -1
    }
    guard count >= 0 else { return nil }
    return Array(buffer.prefix(count))
}

/// Replaces the file at `path` with `bytes` (0600): written to `path.tmp`, synced, renamed over
/// `path`. The rename is not synced: after a crash `path` holds the old bytes or the new, whole.
func replaceFileSynced(_ path: String, with bytes: [UInt8]) throws(SystemCallError) {
    let temporary = path + ".tmp"
    let descriptor = try systemCall("open(\(temporary))") {
        open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    }
    defer { close(descriptor) }
    let written = bytes.withUnsafeBytes { raw in write(descriptor, raw.baseAddress, raw.count) }
    guard written == bytes.count else { throw SystemCallError(call: "write(\(temporary))", errno: written < 0 ? errno : EIO) }
    try systemCall("fsync(\(temporary))") { fsync(descriptor) }
    try systemCall("rename(\(temporary), \(path))") { rename(temporary, path) }
}
