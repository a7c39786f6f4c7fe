public import CapstanStore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The durability test's workload: several writers create, update and delete keys under
/// `StoreTorture.prefix` as fast as the store acknowledges, and each acknowledged write is reported
/// (after the acknowledgement, never before) as one line. Values verify themselves, so a reader can
/// tell a complete write from a torn one.
public enum StoreTorture {
    public static let prefix = "/torture/"

    /// One acknowledged write, as printed.
    public struct Record: Sendable, Hashable {
        public enum Kind: String, Sendable { case put = "P", delete = "D" }
        public var kind: Kind
        public var revision: Int64
        public var key: String
        /// `hash(value)` for puts, 0 for deletes.
        public var hash: UInt64

        public init(kind: Kind, revision: Int64, key: String, hash: UInt64) {
            self.kind = kind
            self.revision = revision
            self.key = key
            self.hash = hash
        }

        public var line: String { "\(kind.rawValue) \(revision) \(key) \(String(hash, radix: 16))\n" }

        /// Parses one line (without its newline); nil for anything else.
        public init?(line: Substring) {
            let fields = line.split(separator: " ")
            guard fields.count == 4, let kind = Kind(rawValue: String(fields[0])),
                let revision = Int64(fields[1]), let hash = UInt64(fields[3], radix: 16)
            else { return nil }
            self.init(kind: kind, revision: revision, key: String(fields[2]), hash: hash)
        }
    }

    /// 64-bit FNV-1a.
    public static func hash(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return hash
    }

    /// A self-verifying value: `key|sequence|` + filler + the 8-byte hash of all before it.
    public static func value(key: String, sequence: Int, length: Int) -> [UInt8] {
        var bytes = Array("\(key)|\(sequence)|".utf8)
        var state = UInt64(truncatingIfNeeded: sequence) &* 0x9e37_79b9_7f4a_7c15 | 1
        for _ in 0..<max(0, length) {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            bytes.append(UInt8(truncatingIfNeeded: state))
        }
        let digest = hash(bytes)
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: digest >> UInt64(shift))) }
        return bytes
    }

    /// Whether `bytes` is a complete value written for `key`.
    public static func isComplete(_ bytes: [UInt8], key: String) -> Bool {
        guard bytes.count >= 8 else { return false }
        let body = bytes[0..<(bytes.count - 8)]
        var digest: UInt64 = 0
        for (index, byte) in bytes[(bytes.count - 8)...].enumerated() { digest |= UInt64(byte) << UInt64(index * 8) }
        return digest == hash(body) && body.starts(with: Array("\(key)|".utf8))
    }

    /// Runs `writers` writers over `keys` keys until `seconds` pass (a safety bound: the durability
    /// test kills the process long before), printing each acknowledged write on standard output.
    public static func run(store: any Store, writers: Int, keys: Int, seconds: Int) async {
        let deadline = ContinuousClock.now + .seconds(seconds)
        let output = LineWriter()
        await withTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    var generator = SystemRandomNumberGenerator()
                    var sequence = writer << 40
                    while ContinuousClock.now < deadline {
                        sequence += 1
                        let key = "\(prefix)k\(Int.random(in: 0..<keys, using: &generator))"
                        guard let record = await writeOnce(store, key: key, sequence: sequence, using: &generator)
                        else { continue }
                        output.write(record.line)
                    }
                }
            }
        }
    }

    /// One create, update or delete of `key`; the record if it was acknowledged.
    private static func writeOnce(
        _ store: any Store, key: String, sequence: Int, using generator: inout SystemRandomNumberGenerator
    ) async -> Record? {
        let value = value(key: key, sequence: sequence, length: Int.random(in: 16...2048, using: &generator))
        do throws(StoreError) {
            do throws(StoreError) {
                let revision = try await store.create(key, value: value)
                return Record(kind: .put, revision: revision, key: key, hash: hash(value))
            } catch .alreadyExists {
                let current = try await store.get(key)
                if Int.random(in: 0..<8, using: &generator) == 0 {
                    let deleted = try await store.delete(key, expectedRevision: current.modRevision)
                    return Record(kind: .delete, revision: deleted.modRevision, key: key, hash: 0)
                }
                let revision = try await store.update(key, value: value, expectedRevision: current.modRevision)
                return Record(kind: .put, revision: revision, key: key, hash: hash(value))
            }
        } catch {
            return nil
        }
    }

}

/// Writes whole lines to standard output, one writer at a time.
final class LineWriter: Sendable {
    private let lock = Mutex(())

    func write(_ line: String) {
        lock.withLock { _ in Self.writeLine(line) }
    }

    private static func writeLine(_ line: String) {
        var bytes = Array(line.utf8)
        var offset = 0
        // Bounded: every pass writes at least one byte or gives up.
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { raw in
                Glibc.write(1, raw.baseAddress! + offset, raw.count - offset)
            }
            if written > 0 {
                offset += written
            } else if written < 0 && errno == EINTR {
                continue
            } else {
                return
            }
        }
    }
}
