import Foundation

/// The results as a table, plus Capstan/swift-protobuf throughput ratios.
func report(_ results: [Measurement], podSize: Int, schedule: Schedule) -> String {
    var lines: [String] = []
    let secs = Double(schedule.roundTime.components.seconds)
        + Double(schedule.roundTime.components.attoseconds) * 1e-18
    lines.append("typical Pod: \(podSize) bytes encoded")
    lines.append(String(format: "%d rounds x %.2f s per case, interleaved; median round shown", schedule.rounds, secs))
    lines.append("")
    lines.append(pad("case", 30) + lpad("ops/s", 12) + lpad("ns/op", 9) + lpad("MB/s", 8) + lpad("bytes", 7) + lpad("spread", 8))
    for m in results {
        let ops = m.median
        lines.append(
            pad(m.benchCase.name, 30) + lpad(String(format: "%.0f", ops), 12)
                + lpad(String(format: "%.0f", 1e9 / ops), 9)
                + lpad(String(format: "%.1f", ops * Double(m.benchCase.encodedSize) / 1e6), 8)
                + lpad("\(m.benchCase.encodedSize)", 7)
                + lpad(String(format: "%.0f%%", m.spread * 100), 8))
    }
    func median(_ name: String) -> Double? { results.first { $0.benchCase.name == name }?.median }
    lines.append("")
    lines.append("Capstan / swift-protobuf (ops/s; above 1 means Capstan is faster):")
    if let c = median("capstan encode"), let s = median("swift-protobuf encode [UInt8]") {
        lines.append(String(format: "  encode  %.2fx", c / s))
    }
    if let c = median("capstan decode"), let s = median("swift-protobuf decode") {
        lines.append(String(format: "  decode  %.2fx", c / s))
    }
    return lines.joined(separator: "\n")
}

private func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
}

private func lpad(_ s: String, _ width: Int) -> String {
    s.count >= width ? " " + s : String(repeating: " ", count: width - s.count) + s
}
