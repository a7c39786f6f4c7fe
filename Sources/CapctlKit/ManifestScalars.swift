import Yams

/// How manifest scalars become JSON values: YAML 1.2's core schema for untagged plain scalars,
/// and the standard scalar tags (`!!str`, `!!int`, `!!float`, `!!bool`, `!!null`) when written.
///
/// Yams' own rules are YAML 1.1's (`010` is 8, `1:30` is 90, and their integers can overflow), so
/// the parser only marks untagged plain scalars (`plainTag`) and this type decides what they are.
enum ManifestScalars {
    /// The tag the parser gives every untagged plain scalar.
    static let plainTag = Tag.Name(rawValue: "tag:capstan.capctl:plain")

    /// The parser's resolver: every untagged plain scalar gets `plainTag`.
    static let resolver: Resolver = {
        // swiftlint:disable:next force_try
        try! Resolver.basic.appending(plainTag, "^")
    }()

    /// A scalar that cannot be what its tag says.
    struct Problem: Error {
        let reason: String
    }

    /// The JSON value of a scalar written as `text` with `tag` (`plainTag` when untagged).
    static func value(_ text: String, tag: Tag.Name) throws(Problem) -> JSONValue {
        switch tag {
        case plainTag:
            if isNull(text) { return .null }
            if let value = bool(text) { return .bool(value) }
            if let number = try integer(text) ?? float(text) { return number }
            return .string(text)
        case .str, .nonSpecific:
            return .string(text)
        case .null:
            guard isNull(text) else { throw Problem(reason: "!!null \(JSONValue.quoted(text)) is not null (~, null or empty)") }
            return .null
        case .bool:
            guard let value = bool(text) else {
                throw Problem(reason: "!!bool \(JSONValue.quoted(text)) is not true or false")
            }
            return .bool(value)
        case .int:
            guard let number = try integer(text) else {
                throw Problem(reason: "!!int \(JSONValue.quoted(text)) is not an integer")
            }
            return number
        case .float:
            guard let number = decimalInteger(text) ?? float(text) else {
                throw Problem(reason: "!!float \(JSONValue.quoted(text)) is not a number")
            }
            return number
        default:
            throw Problem(reason: "the tag \(tag.rawValue) is not supported (only !!str, !!int, !!float, !!bool, !!null)")
        }
    }

    /// `~`, `null`, `Null`, `NULL` or nothing.
    static func isNull(_ text: String) -> Bool {
        ["", "~", "null", "Null", "NULL"].contains(text)
    }

    /// `true`, `True`, `TRUE`, `false`, `False`, `FALSE`.
    static func bool(_ text: String) -> Bool? {
        switch text {
        case "true", "True", "TRUE": true
        case "false", "False", "FALSE": false
        default: nil
        }
    }

    /// `[-+]?[0-9]+`, `0o[0-7]+` or `0x[0-9a-fA-F]+` as a JSON number; nil for other text.
    static func integer(_ text: String) throws(Problem) -> JSONValue? {
        if let decimal = decimalInteger(text) { return decimal }
        for (prefix, radix) in [("0o", 8), ("0x", 16)] where text.hasPrefix(prefix) {
            let digits = text.dropFirst(2)
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.hexDigitValue.map { $0 < radix } == true })
            else { return nil }
            var value: UInt64 = 0
            for digit in digits {
                let (shifted, overflow) = value.multipliedReportingOverflow(by: UInt64(radix))
                let (sum, carry) = shifted.addingReportingOverflow(UInt64(digit.hexDigitValue!))
                guard !overflow, !carry else { throw Problem(reason: "\(text) is out of range for a 64-bit integer") }
                value = sum
            }
            return .number(String(value))
        }
        return nil
    }

    /// `[-+]?[0-9]+` as a JSON number (sign and leading zeros dropped: `+010` is 10), exact at any size.
    static func decimalInteger(_ text: String) -> JSONValue? {
        var digits = Substring(text)
        let negative = digits.first == "-"
        if digits.first == "-" || digits.first == "+" { digits.removeFirst() }
        guard !digits.isEmpty, digits.allSatisfy({ ("0"..."9").contains($0) }) else { return nil }
        let significant = digits.drop { $0 == "0" }
        if significant.isEmpty { return .number("0") }
        return .number((negative ? "-" : "") + significant)
    }

    /// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` as a JSON number, written so JSON
    /// accepts it (`.5` as `0.5`, `1.` as `1.0`); `.inf`, `-.inf` and `.nan` as proto JSON's
    /// `"Infinity"`, `"-Infinity"` and `"NaN"`.
    static func float(_ text: String) -> JSONValue? {
        switch text {
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .string("Infinity")
        case "-.inf", "-.Inf", "-.INF": return .string("-Infinity")
        case ".nan", ".NaN", ".NAN": return .string("NaN")
        default: break
        }
        guard let match = text.wholeMatch(of: /([-+]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([-+]?[0-9]+))?/) else { return nil }
        let (sign, whole, fraction, exponent) = (match.1, match.2, match.3, match.4)
        guard !whole.isEmpty || !(fraction ?? "").isEmpty else { return nil }
        let significant = whole.drop { $0 == "0" }
        var out = (sign == "-" ? "-" : "") + (significant.isEmpty ? "0" : String(significant))
        if let fraction { out += "." + (fraction.isEmpty ? "0" : String(fraction)) }
        if let exponent { out += "e" + exponent }
        return .number(out)
    }
}
