/// Names for objects created with `metadata.generate_name`: the prefix plus a random suffix.
public enum NameGenerator {
    /// Characters of the suffix: no vowels (no accidental words) and no look-alikes (0/o, 1/l).
    static let alphabet = Array("bcdfghjklmnpqrstvwxz2456789".utf8)
    /// Length of the random suffix.
    public static let suffixLength = 5

    /// `prefix` followed by a random suffix of `suffixLength` characters, the prefix shortened so
    /// the whole name is at most 63 characters (a DNS-1123 label if the prefix is a valid start).
    public static func generate<R: RandomNumberGenerator>(prefix: String, using generator: inout R) -> String {
        let room = DNS1123.maxLabelLength - suffixLength
        let base = prefix.utf8.count > room ? String(decoding: prefix.utf8.prefix(room), as: UTF8.self) : prefix
        var suffix: [UInt8] = []
        suffix.reserveCapacity(suffixLength)
        for _ in 0..<suffixLength {
            suffix.append(alphabet[Int.random(in: 0..<alphabet.count, using: &generator)])
        }
        return base + String(decoding: suffix, as: UTF8.self)
    }

    /// `generate(prefix:using:)` with the system's random number generator.
    public static func generate(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        return generate(prefix: prefix, using: &generator)
    }
}
