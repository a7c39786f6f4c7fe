#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call: its name and `errno`.
struct SystemCallError: Error, CustomStringConvertible {
    let call: String
    let errno: Int32

    var description: String { "\(call): \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// Runs a system call that returns -1 and sets `errno` on failure, retrying while it is interrupted
/// (`EINTR`), at most a bounded number of times.
@discardableResult
func systemCall<Result: BinaryInteger>(_ name: String, _ call: () -> Result) throws(SystemCallError) -> Result {
    for _ in 0..<10_000 {
        let result = call()
        if result != -1 { return result }
        let error = errno
        if error != EINTR { throw SystemCallError(call: name, errno: error) }
    }
    throw SystemCallError(call: name, errno: EINTR)
}

/// fsyncs the file at `path` (its data, before a rename or link gives it its name).
func syncFile(_ path: String) throws(SystemCallError) {
    let descriptor = try systemCall("open(\(path))") { open(path, O_RDONLY | O_CLOEXEC) }
    defer { close(descriptor) }
    try systemCall("fsync(\(path))") { fsync(descriptor) }
}

/// fsyncs a directory, making the creation of the files in it durable.
func syncDirectory(_ path: String) throws(SystemCallError) {
    let descriptor = try systemCall("open(\(path))") { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
    defer { close(descriptor) }
    try systemCall("fsync(\(path))") { fsync(descriptor) }
}
