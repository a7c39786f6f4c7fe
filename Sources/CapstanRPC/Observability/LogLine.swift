public import Logging

/// Formats one log record as one line: `text` (`key=value`, values quoted when needed) or `json`.
///
///     2026-11-26T17:32:20.123456Z info capstan.rpc: rpc rpc.code=OK rpc.latency_ms=0.137 rpc.method=/capstan.v1.Pods/Get
///     {"time":"2026-11-26T17:32:20.123456Z","level":"info","logger":"capstan.rpc","message":"rpc","rpc.code":"OK",…}
///
/// Metadata keys are sorted, so lines of the same kind line up.
public enum LogLine {
    /// How a record is written: `key=value` text or one JSON object.
    public enum Format: String, Sendable, CaseIterable {
        case text, json
    }

    /// The line for one record, without its line feed.
    public static func format(
        _ format: Format, time: LogTimestamp, level: Logger.Level, label: String, message: String,
        metadata: Logger.Metadata
    ) -> String {
        let keys = metadata.keys.sorted()
        switch format {
        case .text:
            var line = "\(time) \(level) \(label): \(escapeText(message, quoteIfNeeded: false))"
            for key in keys {
                line += " \(key)=\(escapeText(render(metadata[key]!), quoteIfNeeded: true))"
            }
            return line
        case .json:
            var line = "{\"time\":\"\(time)\",\"level\":\"\(level)\",\"logger\":\(jsonString(label)),"
            line += "\"message\":\(jsonString(message))"
            for key in keys where !["time", "level", "logger", "message"].contains(key) {
                line += ",\(jsonString(key)):\(json(metadata[key]!))"
            }
            return line + "}"
        }
    }

    /// A metadata value as text: strings as they are, lists as `[a, b]`, dictionaries as `[k: v]`.
    static func render(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let text): text
        case .stringConvertible(let value): value.description
        case .array(let values): "[" + values.map(render).joined(separator: ", ") + "]"
        case .dictionary(let entries):
            "[" + entries.keys.sorted().map { "\($0): \(render(entries[$0]!))" }.joined(separator: ", ") + "]"
        }
    }

    /// Text output: control characters escaped; with `quoteIfNeeded`, an empty value or one holding
    /// a space, `"`, `=` or `\` is quoted with `\` escapes, so `key=value` pairs parse back.
    static func escapeText(_ text: String, quoteIfNeeded: Bool) -> String {
        var needsQuotes = quoteIfNeeded && text.isEmpty
        var needsEscapes = false
        for byte in text.utf8 {
            if byte < 0x20 || byte == 0x7F {
                needsEscapes = true
                needsQuotes = quoteIfNeeded
                break
            }
            if quoteIfNeeded, byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "=")
                || byte == UInt8(ascii: "\\") {
                needsQuotes = true
            }
        }
        guard needsQuotes || needsEscapes else { return text }
        var out = needsQuotes ? "\"" : ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\" where needsQuotes: out += "\\\\"
            case "\"" where needsQuotes: out += "\\\""
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\x" + hex(scalar.value, digits: 2)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return needsQuotes ? out + "\"" : out
    }

    private static func json(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let text): jsonString(text)
        case .stringConvertible(let number as LogNumber): number.description
        case .stringConvertible(let value): jsonString(value.description)
        case .array(let values): "[" + values.map(json).joined(separator: ",") + "]"
        case .dictionary(let entries):
            "{" + entries.keys.sorted().map { "\(jsonString($0)):\(json(entries[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    /// A JSON string literal (RFC 8259 escapes).
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += "\\u" + hex(scalar.value, digits: 4)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    private static func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(digits - text.count, 0)) + text
    }
}

/// A number as log metadata (`.stringConvertible(LogNumber(…))`): written as is in text lines,
/// and as a JSON number, not a string, in JSON lines.
public struct LogNumber: CustomStringConvertible, Sendable {
    public let description: String

    /// An integer.
    public init(_ value: some BinaryInteger) { description = String(value) }

    /// A number already formatted as JSON allows (digits, at most one `.`, an optional `-`).
    public init(formatted: String) { description = formatted }
}
