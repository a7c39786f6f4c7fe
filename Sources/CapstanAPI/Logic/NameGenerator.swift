/// Names for objects created with `metadata.generate_name`: the prefix plus a random suffix.
public enum NameGenerator {
    /// Characters of the suffix: no vowels (no accidental words) and no look-alikes (0/o, 1/l).
    static let alphabet = Array("bcdfghjklmnpqrstvwxz2456789".utf8)
    /// Length of the random suffix.
    public static let suffixLength = 5
    /// How many suffixes there are: the alphabet's size to the `suffixLength`th.
    static let suffixCount: UInt64 = (0..<suffixLength).reduce(1) { count, _ in count * UInt64(alphabet.count) }

    /// `prefix` followed by the suffix that `random` (64 uniformly random bits) picks, the prefix
    /// shortened so the whole name is at most 63 characters (a DNS-1123 label if the prefix is a
    /// valid start). Every suffix is equally likely to within one part in 10^12.
    public static func generate(prefix: String, random: UInt64) -> String {
        let kept = prefix.utf8.prefix(DNS1123.maxLabelLength - suffixLength)
        // The high word of random × suffixCount falls in 0..<suffixCount; its digits in base
        // alphabet.count are the suffix's characters.
        var index = random.multipliedFullWidth(by: suffixCount).high
        let base = UInt64(alphabet.count)
        return String(unsafeUninitializedCapacity: kept.count + suffixLength) { text in
            var at = text.initialize(fromContentsOf: kept)
            for _ in 0..<suffixLength {
                text[at] = alphabet[Int(index % base)]
                index /= base
                at += 1
            }
            return at
        }
    }

    /// `generate(prefix:random:)` with 64 bits from `generator`.
    public static func generate<R: RandomNumberGenerator>(prefix: String, using generator: inout R) -> String {
        generate(prefix: prefix, random: generator.next())
    }

    /// `generate(prefix:random:)` with the system's random number generator.
    public static func generate(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        return generate(prefix: prefix, using: &generator)
    }
}
