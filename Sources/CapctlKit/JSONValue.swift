import Foundation

/// A JSON document as a tree, keeping object member order: what manifests are converted to before
/// decoding, and what objects are turned into before printing as JSON or YAML.
indirect enum JSONValue: Sendable {
    case null
    case bool(Bool)
    /// A number, as its JSON text.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    /// The member `key` of an object.
    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// The value at a decoding path (object keys and array indices), if it exists.
    func value(at path: [any CodingKey]) -> JSONValue? {
        var current = self
        for key in path {
            if let index = key.intValue, case .array(let items) = current {
                guard items.indices.contains(index) else { return nil }
                current = items[index]
            } else if let next = current[key.stringValue] {
                current = next
            } else {
                return nil
            }
        }
        return current
    }

    /// A short rendering for error messages: `"http"`, `3`, `true`, `an object`, `a list`.
    var shortDescription: String {
        switch self {
        case .null: "null"
        case .bool(let value): value ? "true" : "false"
        case .number(let text): text
        case .string(let text): JSONValue.quoted(text)
        case .array: "a list"
        case .object: "an object"
        }
    }

    // MARK: JSON text

    /// Compact JSON text.
    var compactText: String {
        var out = ""
        writeJSON(into: &out, indent: nil, level: 0)
        return out
    }

    /// JSON text indented by two spaces, ending without a newline.
    var prettyText: String {
        var out = ""
        writeJSON(into: &out, indent: "  ", level: 0)
        return out
    }

    private func writeJSON(into out: inout String, indent: String?, level: Int) {
        let newline = indent == nil ? "" : "\n"
        func pad(_ level: Int) -> String { indent.map { String(repeating: $0, count: level) } ?? "" }
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .number(let text): out += text
        case .string(let text): out += JSONValue.quoted(text)
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            out += "[" + newline
            for (i, item) in items.enumerated() {
                out += pad(level + 1)
                item.writeJSON(into: &out, indent: indent, level: level + 1)
                out += (i == items.count - 1 ? "" : ",") + newline
            }
            out += pad(level) + "]"
        case .object(let members):
            if members.isEmpty { out += "{}"; return }
            out += "{" + newline
            for (i, member) in members.enumerated() {
                out += pad(level + 1) + JSONValue.quoted(member.key) + (indent == nil ? ":" : ": ")
                member.value.writeJSON(into: &out, indent: indent, level: level + 1)
                out += (i == members.count - 1 ? "" : ",") + newline
            }
            out += pad(level) + "}"
        }
    }

    /// `text` as a JSON string literal (also a YAML double-quoted scalar).
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            // Also the line breaks YAML readers fold (NEL, LINE and PARAGRAPH SEPARATOR): our JSON
            // and YAML output are read back as YAML.
            case _ where scalar.value < 0x20 || scalar.value == 0x7F || scalar.value == 0x85 || scalar.value == 0x2028
                || scalar.value == 0x2029:
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    // MARK: From Encodable values

    /// `value` as proto3 JSON, object keys sorted (stable output for any encoder order).
    static func encoding(_ value: some Encodable) throws -> JSONValue {
        let data = try JSONEncoder().encode(value)
        return try JSONDecoder().decode(JSONValue.self, from: data)
    }
}

extension JSONValue: Decodable {
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .number(String(value))
        } else if let value = try? container.decode(UInt64.self) {
            self = .number(String(value))
        } else if let value = try? container.decode(Double.self) {
            self = .number(String(value))
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            let members = try container.decode([String: JSONValue].self)
            self = .object(members.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) })
        }
    }
}
