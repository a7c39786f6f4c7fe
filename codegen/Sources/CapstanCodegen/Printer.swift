/// Accumulates generated source with indentation.
struct Printer {
    private(set) var text = ""
    private var indentation = ""

    mutating func line(_ s: String = "") {
        if s.isEmpty {
            text += "\n"
        } else {
            text += indentation + s + "\n"
        }
    }

    /// Prints `header {`, the body one level deeper, then `}`.
    mutating func block(_ header: String, _ body: (inout Printer) throws -> Void) rethrows {
        line(header + " {")
        indent()
        try body(&self)
        outdent()
        line("}")
    }

    mutating func indent() { indentation += "    " }
    mutating func outdent() { indentation.removeLast(4) }

    /// Prints a proto comment as a `///` doc comment.
    mutating func docComment(_ comment: String?) {
        guard let comment else { return }
        var lines = comment.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasPrefix(" ") ? String($0.dropFirst()) : String($0)
        }
        while lines.last?.trimmingSpaces.isEmpty == true { lines.removeLast() }
        for l in lines { line(l.trimmingSpaces.isEmpty ? "///" : "/// " + l.trimmingTrailingSpaces) }
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }

    var trimmingTrailingSpaces: String {
        var s = Substring(self)
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }
}
