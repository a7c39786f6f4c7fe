/// A pass over a manifest's text before the YAML parser sees it.
///
/// - Anchors (`&name`) and aliases (`*name`) are refused. Yams resolves an alias to the node it
///   names and hashes mapping keys whole, so a few lines of nested aliases ("billion laughs")
///   would make it, and the conversion after it, visit 10^9 nodes. Only the start of a node is
///   looked at (after indentation, `- `, `? `, `: `, `[`, `{`, `,` or a tag), outside quoted
///   scalars, block scalars and comments; a continuation line of a multi-line plain scalar that
///   starts with `*` or `&` is refused too (quote such a string).
/// - In double-quoted scalars a JSON surrogate pair escape (`\ud83d\ude00`, what Python's
///   `json.dumps` writes) becomes YAML's `\U0001f600`: libyaml refuses escaped surrogates.
enum YAMLPrescan {
    /// An anchor or alias, where it is (1-based).
    struct Refusal: Error {
        let line: Int
        let column: Int
        let text: String
    }

    /// `text` with surrogate pair escapes joined; throws at the first anchor or alias.
    static func check(_ text: String) throws(Refusal) -> String {
        var scanner = Scanner(Array(text.unicodeScalars))
        try scanner.run()
        guard !scanner.joined.isEmpty else { return text }
        var out = String.UnicodeScalarView()
        var next = 0
        for (range, replacement) in scanner.joined {
            out.append(contentsOf: scanner.scalars[next..<range.lowerBound])
            out.append(contentsOf: replacement.unicodeScalars)
            next = range.upperBound
        }
        out.append(contentsOf: scanner.scalars[next...])
        return String(out)
    }

    private struct Scanner {
        let scalars: [Unicode.Scalar]
        /// Surrogate pair escapes and what replaces them, in order.
        var joined: [(Range<Int>, String)] = []
        private var index = 0
        private var line = 1
        private var lineStart = 0
        private var flowDepth = 0
        /// Whether a node may start here (so `*`, `&`, quotes and `|` mean what they say).
        private var nodeStart = true
        /// Inside a block scalar: the indentation its content lines exceed.
        private var blockParent: Int?

        init(_ scalars: [Unicode.Scalar]) { self.scalars = scalars }

        private func at(_ offset: Int) -> Unicode.Scalar? {
            index + offset < scalars.count ? scalars[index + offset] : nil
        }

        /// Whether `scalar` ends a token: none, a space or a line break.
        private func isBlank(_ scalar: Unicode.Scalar?) -> Bool {
            scalar == nil || scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r"
        }

        private func isFlowIndicator(_ scalar: Unicode.Scalar?) -> Bool {
            scalar == "," || scalar == "[" || scalar == "]" || scalar == "{" || scalar == "}"
        }

        mutating func run() throws(Refusal) {
            startLine()
            while index < scalars.count {
                let c = scalars[index]
                if c == "\n" {
                    index += 1
                    line += 1
                    lineStart = index
                    startLine()
                    continue
                }
                if c == " " || c == "\t" || c == "\r" {
                    index += 1
                    continue
                }
                if c == "#" {
                    skipToLineEnd()
                    continue
                }
                if nodeStart {
                    try scanNodeStart(c)
                } else {
                    scanAfterNode(c)
                }
            }
        }

        /// At a line's start: skips a block scalar's content lines and document markers.
        private mutating func startLine() {
            while index < scalars.count {
                var end = index
                while end < scalars.count, scalars[end] == " " { end += 1 }
                let indent = end - index
                let blank = end == scalars.count || scalars[end] == "\n" || scalars[end] == "\r"
                if let parent = blockParent, blank || indent > parent {
                    index = end
                    skipToLineEnd()
                    guard index < scalars.count else { return }
                    index += 1
                    line += 1
                    lineStart = index
                    continue
                }
                blockParent = nil
                index = end
                if flowDepth == 0 { nodeStart = true }
                let marker = String(String.UnicodeScalarView(scalars[index..<min(index + 3, scalars.count)]))
                if indent == 0, marker == "---" || marker == "...", isBlank(at(3)) {
                    index += 3
                    nodeStart = true
                }
                return
            }
        }

        private mutating func skipToLineEnd() {
            while index < scalars.count, scalars[index] != "\n" { index += 1 }
        }

        private mutating func scanNodeStart(_ c: Unicode.Scalar) throws(Refusal) {
            switch c {
            case "*", "&":
                var end = index + 1
                while end < scalars.count, !isBlank(scalars[end]), !isFlowIndicator(scalars[end]) { end += 1 }
                throw Refusal(
                    line: line, column: index - lineStart + 1,
                    text: String(String.UnicodeScalarView(scalars[index..<end])))
            case "!":
                while index < scalars.count, !isBlank(scalars[index]), !isFlowIndicator(scalars[index]) { index += 1 }
            case "\"":
                scanDoubleQuoted()
                nodeStart = false
            case "'":
                index += 1
                while index < scalars.count {
                    let q = scalars[index]
                    index += 1
                    if q == "\n" { line += 1; lineStart = index }
                    if q == "'" {
                        if at(0) == "'" { index += 1 } else { break }
                    }
                }
                nodeStart = false
            case "|" where flowDepth == 0, ">" where flowDepth == 0:
                blockParent = parentColumn()
                skipToLineEnd()
                nodeStart = false
            case "[", "{":
                flowDepth += 1
                index += 1
            case "]", "}":
                flowDepth = max(0, flowDepth - 1)
                index += 1
                nodeStart = false
            case ",":
                index += 1
            case "-" where isBlank(at(1)), "?" where isBlank(at(1)),
                ":" where isBlank(at(1)) || (flowDepth > 0 && isFlowIndicator(at(1))):
                index += 1
            default:
                scanPlain()
            }
        }

        /// After a node: an indicator that starts the next one, or (conservatively) more text.
        private mutating func scanAfterNode(_ c: Unicode.Scalar) {
            switch c {
            case ":", ",", "[", "{":
                if c == "[" || c == "{" { flowDepth += 1 }
                index += 1
                nodeStart = true
            case "]", "}":
                flowDepth = max(0, flowDepth - 1)
                index += 1
            case "-" where isBlank(at(1)), "?" where isBlank(at(1)):
                index += 1
                nodeStart = true
            default:
                scanPlain()
            }
        }

        /// A plain scalar, up to `: `, ` #`, a line break, or a flow indicator inside flow.
        private mutating func scanPlain() {
            index += 1
            while index < scalars.count {
                let c = scalars[index]
                if c == "\n" { break }
                if c == ":", isBlank(at(1)) || (flowDepth > 0 && isFlowIndicator(at(1))) { break }
                if c == "#", index > 0, scalars[index - 1] == " " || scalars[index - 1] == "\t" { break }
                if flowDepth > 0, isFlowIndicator(c) { break }
                index += 1
            }
            nodeStart = false
        }

        /// A double-quoted scalar; records surrogate pair escapes to join.
        private mutating func scanDoubleQuoted() {
            index += 1
            while index < scalars.count {
                let c = scalars[index]
                if c == "\"" {
                    index += 1
                    return
                }
                if c == "\n" {
                    index += 1
                    line += 1
                    lineStart = index
                    continue
                }
                if c == "\\" {
                    if let pair = surrogatePair(at: index) {
                        let hex = String(pair, radix: 16)
                        joined.append((index..<index + 12, "\\U" + String(repeating: "0", count: 8 - hex.count) + hex))
                        index += 12
                    } else {
                        index += 2
                    }
                    continue
                }
                index += 1
            }
        }

        /// The code point of `\uD8xx\uDCxx` at `start`, if a high and a low surrogate are escaped there.
        private func surrogatePair(at start: Int) -> UInt32? {
            func unit(at offset: Int) -> UInt32? {
                guard offset + 6 <= scalars.count, scalars[offset] == "\\", scalars[offset + 1] == "u" else { return nil }
                return UInt32(String(String.UnicodeScalarView(scalars[offset + 2..<offset + 6])), radix: 16)
            }
            guard let high = unit(at: start), (0xD800...0xDBFF).contains(high),
                let low = unit(at: start + 6), (0xDC00...0xDFFF).contains(low)
            else { return nil }
            return 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        }

        /// The column of the node a block scalar indicator at `index` belongs to: the line's
        /// indentation, past any `- ` entries (`- a: |` belongs to the mapping at column 2),
        /// but the last entry's own column when the indicator is the entry (`- |`). Content
        /// lines must be indented more than it; one that is not is the node's next key.
        private func parentColumn() -> Int {
            var end = lineStart
            while end < scalars.count, scalars[end] == " " { end += 1 }
            var column = end - lineStart
            while end + 1 < scalars.count, scalars[end] == "-", scalars[end + 1] == " " || scalars[end + 1] == "\t" {
                let dash = end - lineStart
                end += 1
                while end < scalars.count, scalars[end] == " " || scalars[end] == "\t" { end += 1 }
                column = end == index ? dash : end - lineStart
            }
            return column
        }
    }
}
