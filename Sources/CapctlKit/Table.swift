/// A table printed in aligned columns, kubectl style: upper-case headers, three spaces between
/// columns. Widths come from the rows printed first; later rows (a watch) are padded to the same
/// widths, and a longer cell pushes the rest of its row to the right.
struct Table {
    private(set) var widths: [Int]
    let headers: [String]

    init(headers: [String]) {
        self.headers = headers
        widths = headers.map(\.count)
    }

    /// Widens columns to fit `rows`.
    mutating func fit(_ rows: [[Cell]]) {
        for row in rows {
            for (i, cell) in row.enumerated() where i < widths.count {
                widths[i] = max(widths[i], cell.text.count)
            }
        }
    }

    /// The header line.
    func headerLine(console: Console) -> String {
        render(headers.map { Cell($0) }, console: console, header: true)
    }

    /// One row, padded to the column widths (colour codes are added after padding).
    func render(_ row: [Cell], console: Console, header: Bool = false) -> String {
        var line = ""
        for (i, cell) in row.enumerated() {
            let isLast = i == row.count - 1
            let width = i < widths.count ? widths[i] : cell.text.count
            let padded = isLast ? cell.text : cell.text.padding(toLength: max(width, cell.text.count)) + "   "
            if header {
                line += console.colored(padded, .bold)
            } else if let color = cell.color {
                line += console.colored(cell.text, color) + String(padded.dropFirst(cell.text.count))
            } else {
                line += padded
            }
        }
        return line
    }
}

/// A table cell: text, and a colour used on a terminal.
struct Cell: Sendable {
    var text: String
    var color: ANSIColor?
    init(_ text: String, color: ANSIColor? = nil) {
        self.text = text.isEmpty ? "<none>" : visible(text)
        self.color = color
    }
}

extension String {
    func padding(toLength length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }
}
