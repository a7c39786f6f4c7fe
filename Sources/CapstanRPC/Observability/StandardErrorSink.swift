import Glibc
import Synchronization

/// Writes each line to standard error with one `write(2)`, so lines from concurrent loggers
/// never interleave. (The module's only system calls.)
public final class StandardErrorSink: LogSink {
    public static let shared = StandardErrorSink()

    /// Held only to order whole lines; the write itself is one syscall.
    private let lock = Mutex(())

    private init() {}

    public func write(line: String) {
        var line = line
        line.append("\n")
        lock.withLock { _ in
            line.withUTF8 { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = Glibc.write(2, buffer.baseAddress! + offset, buffer.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        return  // standard error is gone: nowhere to report it
                    }
                    offset += written
                }
            }
        }
    }

    /// The wall-clock time now.
    @Sendable public static func now() -> LogTimestamp {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return LogTimestamp(seconds: Int64(time.tv_sec), nanoseconds: Int32(time.tv_nsec))
    }
}
