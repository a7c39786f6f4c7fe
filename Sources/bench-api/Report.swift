// The closing table of bench-api: each figure, its anchor measured in the same run, the ratio,
// the target and whether it is met; printed and written to a file.
import Foundation

struct ReportRow {
    var figure: String
    var ours: String
    var anchor: String
    /// ours ÷ anchor, where that means something.
    var ratio: Double?
    var target: String
    /// nil: no target for this row.
    var met: Bool?
}

/// What one part of the benchmark found.
struct PhaseResult {
    var rows: [ReportRow] = []
    /// Remarks printed under the table (what exactly was measured, anything that went wrong).
    var notes: [String] = []
}

struct Report {
    private(set) var rows: [ReportRow] = []
    private(set) var notes: [String] = []

    mutating func add(_ result: PhaseResult) {
        for row in result.rows {
            print("  → \(row.figure): \(row.ours)  [\(row.anchor)]\(row.ratio.map { String(format: "  ratio %.2f×", $0) } ?? "")")
        }
        for note in result.notes { print("  note: \(note)") }
        fflush(nil)
        rows += result.rows
        notes += result.notes
    }

    /// The table as text.
    func render(header: String) -> String {
        let widths = [46, 36, 54, 8, 16, 4]
        func line(_ cells: [String]) -> String {
            zip(cells, widths).map { cell, width in
                cell.count >= width ? cell + " " : cell.padding(toLength: width, withPad: " ", startingAt: 0)
            }.joined().trimmingCharacters(in: .whitespaces)
        }
        var text = header + "\n\n"
        text += line(["figure", "capstan", "anchor (same run)", "ratio", "target", "met"]) + "\n"
        text += String(repeating: "-", count: widths.reduce(0, +)) + "\n"
        for row in rows {
            let ratio = row.ratio.map { String(format: "%.2f×", $0) } ?? "-"
            let met = row.met.map { $0 ? "yes" : "NO" } ?? "-"
            text += line([row.figure, row.ours, row.anchor, ratio, row.target, met]) + "\n"
        }
        if !notes.isEmpty {
            text += "\n" + notes.map { "- " + $0 }.joined(separator: "\n") + "\n"
        }
        return text
    }
}

/// "123,456".
func grouped(_ value: Double) -> String {
    let formatter = NumberFormatter()
    formatter.numberStyle = .decimal
    formatter.maximumFractionDigits = 0
    formatter.groupingSeparator = ","
    formatter.usesGroupingSeparator = true
    return formatter.string(from: NSNumber(value: value.rounded())) ?? String(format: "%.0f", value)
}
