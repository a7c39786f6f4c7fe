/// Name rules: DNS-1123 labels for object names, and Kubernetes' qualified names for label keys.
public enum DNS1123 {
    /// Longest DNS-1123 label.
    public static let maxLabelLength = 63
    /// Longest DNS-1123 subdomain.
    public static let maxSubdomainLength = 253

    /// Why `name` is not a DNS-1123 label (lowercase alphanumerics and '-', starting and ending
    /// with an alphanumeric, at most 63 characters), or nil when it is one.
    public static func labelViolation(_ name: String) -> String? {
        if name.isEmpty { return "must not be empty" }
        if name.utf8.count > maxLabelLength {
            return "must be at most \(maxLabelLength) characters (is \(name.utf8.count))"
        }
        let bytes = name.utf8.span
        if isLabel(bytes, from: 0, to: bytes.count) { return nil }
        guard name.utf8.allSatisfy({ isLowerAlphanumeric($0) || $0 == UInt8(ascii: "-") }) else {
            return "must consist of lowercase letters, digits and '-' (\"\(name)\" does not)"
        }
        guard let first = name.utf8.first, let last = name.utf8.last,
              isLowerAlphanumeric(first), isLowerAlphanumeric(last)
        else {
            return "must start and end with a lowercase letter or digit (\"\(name)\" does not)"
        }
        return nil
    }

    /// Whether `name` is a DNS-1123 label.
    public static func isLabel(_ name: String) -> Bool { labelViolation(name) == nil }

    /// Why `name` is not a DNS-1123 subdomain (dot-separated labels, at most 253 characters).
    public static func subdomainViolation(_ name: String) -> String? {
        if name.isEmpty { return "must not be empty" }
        if name.utf8.count > maxSubdomainLength {
            return "must be at most \(maxSubdomainLength) characters (is \(name.utf8.count))"
        }
        let bytes = name.utf8.span
        if isSubdomain(bytes, from: 0, to: bytes.count) { return nil }
        return "must be lowercase DNS labels joined by '.' (\"\(name)\" is not)"
    }

    /// Why `key` is not a valid label or annotation key: an optional DNS-1123 subdomain prefix and
    /// '/', then a name of at most 63 alphanumerics, '-', '_' or '.', starting and ending with an
    /// alphanumeric (Kubernetes' "qualified name").
    public static func qualifiedNameViolation(_ key: String) -> String? {
        isQualifiedName(utf8: key.utf8) ? nil : qualifiedNameProblem(key)
    }

    /// Why `key` is not a qualified name, worked out step by step (nil when it is one).
    static func qualifiedNameProblem(_ key: String) -> String? {
        guard let slash = key.utf8.firstIndex(of: UInt8(ascii: "/")) else {
            return labelValueViolation(key, allowEmpty: false).map { "key \($0)" }
        }
        let nameStart = key.utf8.index(after: slash)
        if key.utf8[nameStart...].contains(UInt8(ascii: "/")) {
            return "key \"\(key)\" must have at most one '/'"
        }
        if let reason = subdomainViolation(String(key[..<slash])) { return "key prefix \(reason)" }
        return labelValueViolation(String(key[nameStart...]), allowEmpty: false).map { "key name \($0)" }
    }

    /// Why `value` is not a valid label value: empty, or at most 63 alphanumerics, '-', '_' or '.',
    /// starting and ending with an alphanumeric.
    public static func labelValueViolation(_ value: String, allowEmpty: Bool = true) -> String? {
        if value.isEmpty { return allowEmpty ? nil : "must not be empty" }
        if value.utf8.count > maxLabelLength {
            return "must be at most \(maxLabelLength) characters (is \(value.utf8.count))"
        }
        let bytes = value.utf8.span
        if isLabelValue(bytes, from: 0, to: bytes.count, allowEmpty: false) { return nil }
        return "must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit (\"\(value)\" is not)"
    }

    /// Whether `key` is what `qualifiedNameViolation` accepts, without making strings (label and
    /// annotation keys are checked on every write; the messages are built only for bad ones).
    /// Works on the bytes in place with integer positions: the generic collection walk over
    /// `UTF8View` slices cost several times more.
    static func isQualifiedName(utf8 key: String.UTF8View) -> Bool {
        let bytes = key.span
        guard let slash = firstIndex(of: UInt8(ascii: "/"), in: bytes, from: 0, to: bytes.count) else {
            return isLabelValue(bytes, from: 0, to: bytes.count, allowEmpty: false)
        }
        return slash > 0 && slash <= maxSubdomainLength
            && isLabelValue(bytes, from: slash + 1, to: bytes.count, allowEmpty: false)
            && isSubdomain(bytes, from: 0, to: slash)
    }

    /// Whether `bytes[start..<end]` are DNS-1123 labels joined by '.' (the length is the caller's check).
    private static func isSubdomain(_ bytes: Span<UInt8>, from start: Int, to end: Int) -> Bool {
        var start = start
        while true {
            let dot = firstIndex(of: UInt8(ascii: "."), in: bytes, from: start, to: end) ?? end
            guard isLabel(bytes, from: start, to: dot) else { return false }
            guard dot < end else { return true }
            start = dot + 1
        }
    }

    /// Whether `bytes[start..<end]` spell what `labelValueViolation` accepts, without a string.
    private static func isLabelValue(_ bytes: Span<UInt8>, from start: Int, to end: Int, allowEmpty: Bool) -> Bool {
        guard start < end else { return allowEmpty }
        guard end - start <= maxLabelLength, isAlphanumeric(bytes[start]), isAlphanumeric(bytes[end - 1]) else { return false }
        for index in start..<end where !isLabelValueByte(bytes[index]) { return false }
        return true
    }

    /// Whether `bytes[start..<end]` spell a DNS-1123 label (what `labelViolation` accepts).
    private static func isLabel(_ bytes: Span<UInt8>, from start: Int, to end: Int) -> Bool {
        guard start < end, end - start <= maxLabelLength, isLowerAlphanumeric(bytes[start]), isLowerAlphanumeric(bytes[end - 1])
        else { return false }
        for index in start..<end where !(isLowerAlphanumeric(bytes[index]) || bytes[index] == UInt8(ascii: "-")) { return false }
        return true
    }

    /// The first position of `byte` in `bytes[start..<end]`.
    private static func firstIndex(of byte: UInt8, in bytes: Span<UInt8>, from start: Int, to end: Int) -> Int? {
        for index in start..<end where bytes[index] == byte { return index }
        return nil
    }

    static func isLabelValueByte(_ byte: UInt8) -> Bool {
        isAlphanumeric(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
    }

    static func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        isLowerAlphanumeric(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }
}
