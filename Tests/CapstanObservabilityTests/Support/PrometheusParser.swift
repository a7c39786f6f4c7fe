/// A strict reader of Prometheus' text exposition format 0.0.4, for checking what we emit:
/// every sample belongs to a family declared by `# HELP` and `# TYPE` before it, names and label
/// names are valid, label values use only the three escapes, values parse as floats.
struct Exposition {
    struct Sample: Hashable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    var types: [String: String] = [:]
    var helps: [String: String] = [:]
    var samples: [Sample] = []

    struct Invalid: Error, CustomStringConvertible {
        var line: Int
        var reason: String
        var description: String { "line \(line): \(reason)" }
    }

    init(parsing text: String) throws {
        guard text.isEmpty || text.hasSuffix("\n") else { throw Invalid(line: 0, reason: "no final line feed") }
        for (offset, line) in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().enumerated() {
            let number = offset + 1
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                let parts = line.dropFirst(7).split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2, Self.isMetricName(parts[0]) else { throw Invalid(line: number, reason: "bad comment") }
                let name = String(parts[0])
                if line.hasPrefix("# HELP ") {
                    guard helps[name] == nil else { throw Invalid(line: number, reason: "second HELP for \(name)") }
                    helps[name] = String(parts[1])
                } else {
                    guard ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[1]) else {
                        throw Invalid(line: number, reason: "unknown type \(parts[1])")
                    }
                    guard types[name] == nil, !samples.contains(where: { Self.family(of: $0.name, in: [name: ""]) != nil }) else {
                        throw Invalid(line: number, reason: "TYPE for \(name) repeated or after its samples")
                    }
                    types[name] = String(parts[1])
                }
                continue
            }
            guard !line.hasPrefix("#"), !line.isEmpty else { throw Invalid(line: number, reason: "unexpected line") }
            let sample = try Self.sample(line, number: number)
            guard Self.family(of: sample.name, in: types) != nil else {
                throw Invalid(line: number, reason: "\(sample.name) has no TYPE line before it")
            }
            samples.append(sample)
        }
    }

    /// The value of the one sample named `name` whose labels include `labels`.
    func value(_ name: String, _ labels: [String: String]) -> Double? {
        let matches = samples.filter { sample in
            sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value }
        }
        return matches.count == 1 ? matches[0].value : nil
    }

    /// The family a sample name belongs to (histograms add `_bucket`, `_sum`, `_count`).
    static func family(of name: String, in types: [String: String]) -> String? {
        if types[name] != nil { return name }
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if types[base] == "histogram" || types[base] == "" { return base }
        }
        return nil
    }

    static func isMetricName(_ name: Substring) -> Bool {
        guard let first = name.first, first.isLetter || first == "_" || first == ":" else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ":") }
    }

    private static func sample(_ line: Substring, number: Int) throws -> Sample {
        var rest = line[...]
        let nameEnd = rest.firstIndex { $0 == "{" || $0 == " " } ?? rest.endIndex
        let name = String(rest[..<nameEnd])
        guard isMetricName(rest[..<nameEnd]) else { throw Invalid(line: number, reason: "bad metric name '\(name)'") }
        rest = rest[nameEnd...]
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                guard let equals = rest.firstIndex(of: "=") else { throw Invalid(line: number, reason: "label without =") }
                let labelName = rest[..<equals]
                guard isMetricName(labelName), !labelName.contains(":") else {
                    throw Invalid(line: number, reason: "bad label name '\(labelName)'")
                }
                rest = rest[rest.index(after: equals)...]
                guard rest.first == "\"" else { throw Invalid(line: number, reason: "label value not quoted") }
                rest = rest.dropFirst()
                var value = ""
                while true {
                    guard let character = rest.first else { throw Invalid(line: number, reason: "unterminated label value") }
                    rest = rest.dropFirst()
                    if character == "\"" { break }
                    if character == "\\" {
                        switch rest.first {
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        case "n": value.append("\n")
                        default: throw Invalid(line: number, reason: "bad escape in a label value")
                        }
                        rest = rest.dropFirst()
                    } else {
                        value.append(character)
                    }
                }
                guard labels.updateValue(value, forKey: String(labelName)) == nil else {
                    throw Invalid(line: number, reason: "label \(labelName) repeated")
                }
                if rest.first == "," { rest = rest.dropFirst() } else if rest.first != "}" {
                    throw Invalid(line: number, reason: "expected , or }")
                }
            }
            rest = rest.dropFirst()
        }
        guard rest.first == " " else { throw Invalid(line: number, reason: "no space before the value") }
        let valueText = rest.dropFirst()
        let value: Double
        switch valueText {
        case "+Inf": value = .infinity
        case "-Inf": value = -.infinity
        case "NaN": value = .nan
        default:
            guard let parsed = Double(valueText) else { throw Invalid(line: number, reason: "bad value '\(valueText)'") }
            value = parsed
        }
        return Sample(name: name, labels: labels, value: value)
    }
}
