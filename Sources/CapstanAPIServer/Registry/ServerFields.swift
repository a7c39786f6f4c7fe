import CapstanAPI
import Glibc
import Synchronization

/// The values the server sets on objects: uids, generated names and timestamps.
enum ServerFields {
    /// Random bits for uids and generated names, drawn from the kernel a page at a time: one
    /// `arc4random_buf` call serves hundreds of creates, instead of a `getrandom` system call for
    /// every 8 bytes (two per uid, one per character of a generated name).
    private struct RandomPool {
        var words = [UInt64](repeating: 0, count: 512)
        var next = 512

        mutating func takePair() -> (UInt64, UInt64) {
            (takeWord(), takeWord())
        }

        mutating func takeWord() -> UInt64 {
            if next == words.count {
                refill()
                next = 0
            }
            defer { next += 1 }
            return words[next]
        }

        /// glibc's `arc4random_buf`: the kernel's generator (getrandom), without a system call
        /// per few bytes.
        private mutating func refill() {
            words.withUnsafeMutableBytes { raw in arc4random_buf(raw.baseAddress!, raw.count) }
        }
    }

    private static let pool = Mutex(RandomPool())
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// A random (version 4) UUID in its canonical lowercase form.
    static func uuid() -> String {
        let (high, low) = pool.withLock { $0.takePair() }
        return String(unsafeUninitializedCapacity: 36) { text in
            var at = 0
            for index in 0..<16 {
                if index == 4 || index == 6 || index == 8 || index == 10 {
                    text[at] = UInt8(ascii: "-")
                    at += 1
                }
                var byte = UInt8(truncatingIfNeeded: (index < 8 ? high : low) >> (56 - 8 * (index % 8)))
                if index == 6 { byte = byte & 0x0f | 0x40 }
                if index == 8 { byte = byte & 0x3f | 0x80 }
                text[at] = digits[Int(byte >> 4)]
                text[at + 1] = digits[Int(byte & 0x0f)]
                at += 2
            }
            return at
        }
    }

    /// `prefix` with a random suffix (see `NameGenerator`), its 64 random bits from the pool.
    static func name(prefix: String) -> String {
        NameGenerator.generate(prefix: prefix, random: pool.withLock { $0.takeWord() })
    }

    /// The wall-clock time now.
    static func now() -> Google_Protobuf_Timestamp {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        var timestamp = Google_Protobuf_Timestamp()
        timestamp.seconds = Int64(time.tv_sec)
        timestamp.nanos = Int32(time.tv_nsec)
        return timestamp
    }
}
