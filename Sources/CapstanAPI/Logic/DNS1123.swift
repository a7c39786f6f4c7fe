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
        for part in name.split(separator: ".", omittingEmptySubsequences: false) {
            if labelViolation(String(part)) != nil {
                return "must be lowercase DNS labels joined by '.' (\"\(name)\" is not)"
            }
        }
        return nil
    }

    /// Why `key` is not a valid label or annotation key: an optional DNS-1123 subdomain prefix and
    /// '/', then a name of at most 63 alphanumerics, '-', '_' or '.', starting and ending with an
    /// alphanumeric (Kubernetes' "qualified name").
    public static func qualifiedNameViolation(_ key: String) -> String? {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        switch parts.count {
        case 1:
            return labelValueViolation(key, allowEmpty: false).map { "key \($0)" }
        case 2:
            if let reason = subdomainViolation(String(parts[0])) { return "key prefix \(reason)" }
            return labelValueViolation(String(parts[1]), allowEmpty: false).map { "key name \($0)" }
        default:
            return "key \"\(key)\" must have at most one '/'"
        }
    }

    /// Why `value` is not a valid label value: empty, or at most 63 alphanumerics, '-', '_' or '.',
    /// starting and ending with an alphanumeric.
    public static func labelValueViolation(_ value: String, allowEmpty: Bool = true) -> String? {
        if value.isEmpty { return allowEmpty ? nil : "must not be empty" }
        if value.utf8.count > maxLabelLength {
            return "must be at most \(maxLabelLength) characters (is \(value.utf8.count))"
        }
        let allowed = value.utf8.allSatisfy {
            isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
        }
        guard allowed, let first = value.utf8.first, let last = value.utf8.last,
              isAlphanumeric(first), isAlphanumeric(last)
        else {
            return "must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit (\"\(value)\" is not)"
        }
        return nil
    }

    static func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        isLowerAlphanumeric(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }
}
