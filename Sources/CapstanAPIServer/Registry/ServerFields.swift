import CapstanAPI
import Glibc

/// The values the server sets on objects: uids and timestamps.
enum ServerFields {
    /// A random (version 4) UUID in its canonical lowercase form.
    static func uuid() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[6] = bytes[6] & 0x0f | 0x40
        bytes[8] = bytes[8] & 0x3f | 0x80
        let hex = bytes.map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]])
        }
        return [hex[0..<4], hex[4..<6], hex[6..<8], hex[8..<10], hex[10..<16]].map { $0.joined() }.joined(separator: "-")
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
