/// A stream of JSON values, one after another (what `get -w -o json` prints, or two `get -o json`
/// outputs appended), read as YAML documents: YAML takes one flow collection per document, so a
/// `--- ` marker goes before each value after the first. A value that starts a line gets the marker
/// on that line, so line numbers in messages stay those of the file.
enum JSONStream {
    /// `text` with a document marker before every top-level JSON value but the first; unchanged
    /// unless it starts (after white space) with `{` or `[` and holds more than one value.
    static func separated(_ text: String) -> String {
        let bytes = Array(text.utf8)
        var index = 0
        func skipSpace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }
        // A byte order mark is taken by the YAML reader; it is not a value.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") || bytes[index] == UInt8(ascii: "[") else { return text }
        var starts: [Int] = []
        while index < bytes.count {
            guard let end = valueEnd(bytes, from: index) else { return text }
            index = end
            skipSpace()
            guard index < bytes.count else { break }
            guard bytes[index] == UInt8(ascii: "{") || bytes[index] == UInt8(ascii: "[") else { return text }
            starts.append(index)
        }
        guard !starts.isEmpty else { return text }
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count + 5 * starts.count)
        var copied = 0
        for start in starts {
            result.append(contentsOf: bytes[copied..<start])
            let startsLine = start > 0 && bytes[start - 1] == 0x0A
            result.append(contentsOf: Array((startsLine ? "--- " : "\n--- ").utf8))
            copied = start
        }
        result.append(contentsOf: bytes[copied...])
        return String(decoding: result, as: UTF8.self)
    }

    /// The index after the object or array that starts at `start`, or nil if it does not close or
    /// is not JSON.
    private static func valueEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        var depth = 0
        var inString = false
        var escaped = false
        var index = start
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            // Not JSON (a YAML comment or single-quoted scalar): the text is left to the YAML reader.
            case UInt8(ascii: "#"), UInt8(ascii: "'"): return nil
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 { return index }
            default: break
            }
        }
        return nil
    }
}
