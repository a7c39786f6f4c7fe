public import ArgumentParser
import CapstanAPI

/// `-o`: how `get` prints objects.
public enum OutputFormat: String, CaseIterable, ExpressibleByArgument, Sendable {
    case table, wide, yaml, json, name
}

/// An object as capctl prints it in yaml/json: `apiVersion` and `kind` first-level keys (so the
/// output can be fed back to `create -f`), then the proto3-JSON fields, keys sorted.
func manifestValue<R: CLIResource>(_ object: R) throws -> JSONValue {
    guard case .object(let fields) = try JSONValue.encoding(object) else { return .null }
    var members: [(key: String, value: JSONValue)] = [("apiVersion", .string("v1")), ("kind", .string(R.kind.name))]
    members.append(contentsOf: fields)
    return .object(members.sorted { $0.key < $1.key })
}

/// Prints objects of one kind in one format: all at once (`get`) or one by one (`get -w`).
struct ObjectPrinter<R: CLIResource> {
    let format: OutputFormat
    let console: Console
    /// Adds a NAMESPACE column (with `--all-namespaces`).
    let showNamespace: Bool
    /// Adds an EVENT column (wide watch).
    let showEvent: Bool
    /// Rows follow one by one after the list (`get -w`).
    let watching: Bool
    private var table: Table
    private var printedHeader = false
    private var printedDocuments = 0

    /// `watching`: rows will follow one by one (`get -w`), so columns get room to start with.
    init(format: OutputFormat, console: Console, showNamespace: Bool, watching: Bool = false) {
        let showEvent = watching
        self.watching = watching
        self.format = format
        self.console = console
        self.showNamespace = showNamespace && R.kind.isNamespaced
        self.showEvent = showEvent && format == .wide
        var headers = R.headers(wide: format == .wide)
        if self.showNamespace { headers.insert("NAMESPACE", at: 0) }
        if self.showEvent { headers.insert("EVENT", at: 0) }
        table = Table(headers: headers)
        if watching {
            // Rows of objects created later are wider than an empty or short initial list.
            table.fit([headers.indices.map { _ in Cell(String(repeating: " ", count: 12)) }])
        }
    }

    private func row(_ object: R, event: EventType?) -> [Cell] {
        var cells = object.cells(wide: format == .wide)
        if showNamespace { cells.insert(Cell(object.metadata.namespace), at: 0) }
        if showEvent { cells.insert(Cell(event.map { displayName($0).uppercased() } ?? ""), at: 0) }
        return cells
    }

    /// Prints a list of objects (a table's header once; a List for json, or each object when a
    /// watch follows). An empty table or YAML stream says so on standard error, unless a watch
    /// follows (its header is printed then).
    mutating func printList(_ objects: [R], singleObject: Bool = false, emptyNote: String? = nil) throws {
        switch format {
        case .table, .wide:
            if objects.isEmpty, let emptyNote, !watching {
                console.error(emptyNote)
                return
            }
            // A watch's current objects count as ADDED (as its initial events would).
            let rows = objects.map { row($0, event: showEvent ? .added : nil) }
            table.fit(rows)
            if !rows.isEmpty || !printedHeader {
                console.line(table.headerLine(console: console))
                printedHeader = true
            }
            for row in rows { console.line(table.render(row, console: console)) }
        case .json where watching:
            // A stream of objects, as the changes that follow are printed (and as kubectl does).
            for object in objects { try printOne(object, event: nil) }
        case .json:
            if singleObject, let object = objects.first {
                console.line(try manifestValue(object).prettyText)
            } else {
                let list = JSONValue.object([
                    ("apiVersion", .string("v1")), ("items", .array(try objects.map(manifestValue))), ("kind", .string("List")),
                ])
                console.line(list.prettyText)
            }
        case .yaml, .name:
            // No documents is the empty list in YAML's stream form; say so where a person reads it.
            if objects.isEmpty, let emptyNote, !watching, format == .yaml { console.error(emptyNote) }
            for object in objects { try printOne(object, event: nil) }
        }
    }

    /// Prints one object, as a watch does: a row (with its event in wide), a document, a name.
    mutating func printOne(_ object: R, event: EventType?) throws {
        switch format {
        case .table, .wide:
            let cells = row(object, event: event)
            if !printedHeader {
                table.fit([cells])
                console.line(table.headerLine(console: console))
                printedHeader = true
            }
            console.line(table.render(cells, console: console))
        case .yaml:
            if printedDocuments > 0 { console.line("---") }
            console.write(YAMLWriter.document(try manifestValue(object)))
        case .json:
            console.line(try manifestValue(object).prettyText)
        case .name:
            console.line("\(R.kind.singular)/\(object.metadata.name)")
        }
        printedDocuments += 1
    }

    /// Whether a header or document was printed already (a watch after an empty list).
    var printedAnything: Bool { printedHeader || printedDocuments > 0 }
}
