/// Writes a `JSONValue` as block-style YAML that any YAML 1.1 or 1.2 reader reads back to the same
/// JSON: strings that could read as anything else (numbers, booleans, null, indicators) are
/// double-quoted with JSON escapes, which YAML's double-quoted style shares.
enum YAMLWriter {
    /// `value` as a YAML document (no `---`), ending with a newline.
    static func document(_ value: JSONValue) -> String {
        var out = ""
        switch value {
        case .object(let members) where !members.isEmpty:
            writeMembers(members, indent: 0, into: &out)
        case .array(let items) where !items.isEmpty:
            writeItems(items, indent: 0, into: &out)
        default:
            out = scalar(value) + "\n"
        }
        return out
    }

    private static func writeMembers(_ members: [(key: String, value: JSONValue)], indent: Int, into out: inout String) {
        let pad = String(repeating: " ", count: indent)
        for (i, member) in members.enumerated() {
            // The first member of a list item follows its "- " on the same line.
            out += (i == 0 && indent > 0 && out.hasSuffix("- ") ? "" : pad) + key(member.key) + ":"
            writeValue(member.value, indent: indent, into: &out)
        }
    }

    private static func writeItems(_ items: [JSONValue], indent: Int, into out: inout String) {
        let pad = String(repeating: " ", count: indent)
        for item in items {
            out += pad + "- "
            switch item {
            case .object(let members) where !members.isEmpty:
                writeMembers(members, indent: indent + 2, into: &out)
            case .array(let inner) where !inner.isEmpty:
                out += "\n"
                writeItems(inner, indent: indent + 2, into: &out)
            default:
                out += scalar(item) + "\n"
            }
        }
    }

    /// After `key:`: a scalar on the same line, a collection on the lines below.
    private static func writeValue(_ value: JSONValue, indent: Int, into out: inout String) {
        switch value {
        case .object(let members) where !members.isEmpty:
            out += "\n"
            writeMembers(members, indent: indent + 2, into: &out)
        case .array(let items) where !items.isEmpty:
            out += "\n"
            writeItems(items, indent: indent + 2, into: &out)
        default:
            out += " " + scalar(value) + "\n"
        }
    }

    private static func key(_ text: String) -> String { isPlainSafe(text) ? text : JSONValue.quoted(text) }

    private static func scalar(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool(let b): b ? "true" : "false"
        case .number(let text): text
        case .string(let text): isPlainSafe(text) ? text : JSONValue.quoted(text)
        case .array: "[]"
        case .object: "{}"
        }
    }

    /// Words YAML 1.1 or 1.2 readers may take for something other than a string.
    private static let reserved: Set<String> = [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
    ]

    /// Whether `text` can be written without quotes and read back as the same string.
    static func isPlainSafe(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, let last = text.unicodeScalars.last else { return false }
        guard first.properties.isAlphabetic || first == "_" || first == "/" else { return false }
        guard last != " ", last != ":" else { return false }
        if reserved.contains(text.lowercased()) { return false }
        if text.contains(": ") || text.contains(" #") { return false }
        return text.unicodeScalars.allSatisfy { scalar in
            scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
                || "_./=+-:@() ,".unicodeScalars.contains(scalar)
        }
    }
}
