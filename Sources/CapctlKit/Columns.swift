import Foundation
import CapstanAPI

/// How objects of a kind print as table rows (`get`, `get -o wide`, `get -w`).
protocol TableRows {
    /// Column headers; `wide` adds columns.
    static func headers(wide: Bool) -> [String]
    /// This object's cells, matching `headers(wide:)`.
    func cells(wide: Bool) -> [Cell]
}

/// `a=b,c=d`, sorted by key; empty for no labels (the cell shows `<none>`).
func formatLabels(_ labels: [String: String]) -> String {
    labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
}

/// `text` with control characters written as escapes (`\n`, `\u{1B}`): server data printed for a
/// person keeps to its line, and an escape sequence in an annotation or a message cannot drive the
/// terminal (clear it, move the cursor, retitle the window; the class of kubectl's CVE-2021-25743),
/// nor can a bidirectional override reorder what follows it on the line.
func visible(_ text: String) -> String {
    func isControl(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        return value < 0x20 || (0x7F...0x9F).contains(value) || value == 0x2028 || value == 0x2029
            || (0x202A...0x202E).contains(value) || (0x2066...0x2069).contains(value)
    }
    guard text.unicodeScalars.contains(where: isControl) else { return text }
    var shown = String.UnicodeScalarView()
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\n": shown.append(contentsOf: "\\n".unicodeScalars)
        case "\r": shown.append(contentsOf: "\\r".unicodeScalars)
        case "\t": shown.append(contentsOf: "\\t".unicodeScalars)
        case _ where isControl(scalar):
            shown.append(contentsOf: "\\u{\(String(scalar.value, radix: 16, uppercase: true))}".unicodeScalars)
        default: shown.append(scalar)
        }
    }
    return String(shown)
}

/// `RUNNING` → `Running`, `CLIENT_IP` → `ClientIP`: an enum value's name without its prefix,
/// capitalised (initialisms stay upper case, as Kubernetes writes them).
func displayName<E: ProtoEnum>(_ value: E) -> String {
    guard var name = value.protoName else { return String(value.rawValue) }
    if name.hasPrefix(E.protoValuePrefix) { name.removeFirst(E.protoValuePrefix.count) }
    return name.split(separator: "_").map { word in
        initialisms.contains(String(word)) ? String(word) : word.prefix(1).uppercased() + word.dropFirst().lowercased()
    }.joined()
}

/// `words` as a shell would read them back: `sh -c 'echo hi'` (a word with spaces, quotes or
/// other special characters, or an empty one, in single quotes).
func shellWords(_ words: [String]) -> String {
    words.map { word in
        let plain = !word.isEmpty && word.unicodeScalars.allSatisfy { scalar in
            scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "_@%+=:,./-".unicodeScalars.contains(scalar)
        }
        return plain ? word : "'" + word.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }.joined(separator: " ")
}

/// Words of enum value names that are initialisms.
private let initialisms: Set<String> = ["IP", "TCP", "UDP"]

/// `NOT_SERVING` → `NOT_SERVING`: an enum value's proto name without its prefix, as written in
/// the API (for statuses users compare with documentation and other tools).
func constantName<E: ProtoEnum>(_ value: E) -> String {
    guard var name = value.protoName else { return String(value.rawValue) }
    if name.hasPrefix(E.protoValuePrefix) { name.removeFirst(E.protoValuePrefix.count) }
    return name
}

extension Pod: TableRows {
    static func headers(wide: Bool) -> [String] {
        ["NAME", "IMAGE(S)", "HOST", "LABELS", "STATUS"] + (wide ? ["IP", "RESTARTS", "MESSAGE"] : [])
    }

    /// The phase, with `Pending` for an unset one (the server's default).
    var phaseName: String { displayName(status.phase == .unspecified ? .pending : status.phase) }

    func cells(wide: Bool) -> [Cell] {
        let color: ANSIColor? =
            switch status.phase {
            case .running, .succeeded: .green
            case .failed, .unknown: .red
            default: .yellow
            }
        var cells = [
            Cell(metadata.name),
            Cell(spec.containers.map(\.image).joined(separator: ",")),
            Cell(spec.host.isEmpty ? "<unassigned>" : spec.host),
            Cell(formatLabels(metadata.labels)),
            Cell(phaseName, color: color),
        ]
        if wide {
            cells.append(Cell(status.podIp))
            cells.append(Cell(String(status.containerStatuses.reduce(0) { $0 + Int($1.restartCount) })))
            cells.append(Cell(status.message))
        }
        return cells
    }
}

extension ReplicationController: TableRows {
    static func headers(wide: Bool) -> [String] {
        ["NAME", "IMAGE(S)", "SELECTOR", "REPLICAS"] + (wide ? ["CURRENT", "LABELS"] : [])
    }

    func cells(wide: Bool) -> [Cell] {
        var cells = [
            Cell(metadata.name),
            Cell(spec.template.spec.containers.map(\.image).joined(separator: ",")),
            Cell(formatLabels(spec.selector)),
            Cell(String(spec.replicas)),
        ]
        if wide {
            cells.append(Cell(String(status.replicas), color: status.replicas == spec.replicas ? .green : .yellow))
            cells.append(Cell(formatLabels(metadata.labels)))
        }
        return cells
    }
}

extension Service: TableRows {
    static func headers(wide: Bool) -> [String] {
        ["NAME", "LABELS", "SELECTOR", "PORT"] + (wide ? ["CONTAINER PORT", "AFFINITY"] : [])
    }

    func cells(wide: Bool) -> [Cell] {
        let proto = spec.protocol == .unspecified ? Protocol.tcp : spec.protocol
        var cells = [
            Cell(metadata.name),
            Cell(formatLabels(metadata.labels)),
            Cell(formatLabels(spec.selector)),
            Cell("\(spec.port)/\(displayName(proto).uppercased())"),
        ]
        if wide {
            cells.append(Cell(String(spec.containerPort == 0 ? spec.port : spec.containerPort)))
            let affinity = spec.sessionAffinity == .unspecified ? SessionAffinity.none : spec.sessionAffinity
            cells.append(Cell(displayName(affinity)))
        }
        return cells
    }
}

extension Endpoints: TableRows {
    static func headers(wide: Bool) -> [String] {
        ["NAME", "ENDPOINTS"] + (wide ? ["COUNT"] : [])
    }

    func cells(wide: Bool) -> [Cell] {
        var cells = [Cell(metadata.name), Cell(endpoints.joined(separator: ","))]
        if wide { cells.append(Cell(String(endpoints.count))) }
        return cells
    }
}

extension Minion: TableRows {
    static func headers(wide: Bool) -> [String] {
        ["NAME", "STATUS", "LABELS"] + (wide ? ["ADDRESS", "CPU", "MEMORY", "PODS"] : [])
    }

    /// `Ready`, `NotReady` or `Unknown` from the Ready condition, plus `SchedulingDisabled`.
    var readiness: String {
        let ready = status.conditions.first { $0.type == "Ready" }
        var text =
            switch ready?.status {
            case .true?: "Ready"
            case .false?: "NotReady"
            default: "Unknown"
            }
        if spec.unschedulable { text += ",SchedulingDisabled" }
        return text
    }

    func cells(wide: Bool) -> [Cell] {
        let ready = readiness
        var cells = [
            Cell(metadata.name),
            Cell(ready, color: ready.hasPrefix("Ready") ? .green : .red),
            Cell(formatLabels(metadata.labels)),
        ]
        if wide {
            let address = spec.address.isEmpty ? "" : (spec.kubeletPort == 0 ? spec.address : "\(spec.address):\(spec.kubeletPort)")
            cells.append(Cell(address))
            cells.append(Cell(spec.capacity.cpuMillis == 0 ? "" : "\(spec.capacity.cpuMillis)m"))
            cells.append(Cell(spec.capacity.memoryBytes == 0 ? "" : formatBytes(spec.capacity.memoryBytes)))
            cells.append(Cell(spec.capacity.pods == 0 ? "" : String(spec.capacity.pods)))
        }
        return cells
    }
}

/// `512Mi`, `2Gi`, or plain bytes when not a whole number of KiB.
func formatBytes(_ bytes: Int64) -> String {
    let units = [(Int64(1) << 40, "Ti"), (Int64(1) << 30, "Gi"), (Int64(1) << 20, "Mi"), (Int64(1) << 10, "Ki")]
    for (size, suffix) in units where bytes >= size && bytes % size == 0 {
        return "\(bytes / size)\(suffix)"
    }
    return String(bytes)
}
