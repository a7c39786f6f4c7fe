import CapstanAPI
import Foundation
import Yams

/// One object read from a manifest, with where it came from.
struct ManifestObject: Sendable {
    /// `pods.yaml: document 2 (line 14)`.
    let origin: String
    let kind: Kind
    /// The decoded object (a `Pod`, `Service`, …).
    let object: any CLIResource
}

/// Reads manifests: YAML or JSON files (JSON is read as YAML's flow style, a stream of JSON values
/// as one document each, see `JSONStream`; anchors and aliases are refused, see `YAMLPrescan`),
/// one or many documents
/// separated by `---`, a `List` (`kind: List` with `items`) or a top-level array; `-` is standard
/// input. `kind:` picks the type (any spelling `Kind` accepts) and `apiVersion: v1` is accepted;
/// both are removed before the object is decoded with its generated proto3-JSON `Codable`, so
/// unknown fields and wrong types are rejected with their path. Nothing is returned unless every
/// document decodes: a bad manifest changes nothing.
enum Manifest {
    /// Every object of `paths`, in order; throws the first problem, naming file, document, line, field.
    /// A directory stands for its `.yaml`, `.yml` and `.json` files, in name order (not its
    /// subdirectories).
    static func load(paths: [String], console: Console) throws(CapctlError) -> [ManifestObject] {
        var files: [String] = []
        for path in paths { files += try expand(path) }
        // Standard input is read once: a second `-f -` would find it empty ("no objects").
        if files.filter({ $0 == "-" }).count > 1 { throw .usage("-f - (standard input) can be given once") }
        var objects: [ManifestObject] = []
        for path in files {
            let (name, text) = try read(path, console: console)
            objects.append(contentsOf: try parse(text, source: name))
        }
        return objects
    }

    /// `path`, or the manifest files of the directory it names.
    private static func expand(_ path: String) throws(CapctlError) -> [String] {
        var isDirectory: ObjCBool = false
        guard path != "-", FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            return [path]
        }
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else {
            throw .manifest("\(path): cannot list the directory (not readable)")
        }
        let files = names.filter { name in
            [".yaml", ".yml", ".json"].contains { name.lowercased().hasSuffix($0) } && !name.hasPrefix(".")
        }.sorted().map { (path.hasSuffix("/") ? path : path + "/") + $0 }
        guard !files.isEmpty else { throw .manifest("\(path): a directory with no .yaml, .yml or .json files") }
        return files
    }

    private static func read(_ path: String, console: Console) throws(CapctlError) -> (String, String) {
        if path == "-" {
            guard let text = String(data: console.readStandardInput(), encoding: .utf8) else {
                throw .manifest("<stdin>: not UTF-8 text")
            }
            return ("<stdin>", text)
        }
        // Read through a handle, not `FileManager.contents(atPath:)`: that reads regular files
        // only, and pipes (`-f /dev/stdin`, `-f <(…)`) and FIFOs are manifests too.
        guard FileManager.default.fileExists(atPath: path) else { throw .manifest("\(path): no such file") }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw .manifest("\(path): cannot open the file (not readable)")
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.readToEnd() ?? Data()
        } catch {
            throw .manifest("\(path): cannot read the file: \(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw .manifest("\(path): not UTF-8 text") }
        return (path, text)
    }

    /// The objects of one file's text; `source` names it in errors.
    static func parse(_ original: String, source: String) throws(CapctlError) -> [ManifestObject] {
        var objects: [ManifestObject] = []
        var documentNumber = 0
        let text: String
        do {
            text = JSONStream.separated(try YAMLPrescan.check(original))
        } catch {
            throw .manifest(
                "\(source): line \(error.line), column \(error.column): YAML anchors and aliases are not supported"
                    + " (\(error.text)): write the value out in full")
        }
        do {
            // YAML 1.2's core schema (ManifestScalars): `yes`, `on`, `010` and timestamps are not 1.1's.
            let parser = try Parser(yaml: text, resolver: ManifestScalars.resolver)
            while let root = try parser.nextRoot() {
                documentNumber += 1
                let line = root.mark?.line ?? 1
                let origin = "\(source): document \(documentNumber) (line \(line))"
                var places = Places()
                let value = try convert(root, path: [], places: &places, origin: origin)
                objects.append(contentsOf: try objectsOf(value, origin: origin, places: places))
            }
        } catch let error as CapctlError {
            throw error
        } catch let error as YamlError {
            throw .manifest("\(source): document \(documentNumber + 1): \(describe(error, source: source))")
        } catch {
            throw .manifest("\(source): \(error)")
        }
        if objects.isEmpty { throw .manifest("\(source): no objects in the file") }
        return objects
    }

    /// A YAML syntax error as `line L, column C: problem`; a `.json` file's as invalid JSON (it
    /// is read as YAML, whose flow style JSON is).
    private static func describe(_ error: YamlError, source: String) -> String {
        let syntax = source.lowercased().hasSuffix(".json") ? "JSON" : "YAML"
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            // libyaml's words for its depth limit name its C function.
            let problem = problem.hasPrefix("Maximum nesting level reached") ? "nested too deeply" : problem
            return "line \(mark.line), column \(mark.column): invalid \(syntax): \(problem)"
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.sorted().map { "\"\($0)\"" }.joined(separator: ", ")
            return "line \(context.mark.line), column \(context.mark.column): duplicate key \(keys)"
        default:
            return "invalid \(syntax): \(error)"
        }
    }

    /// Where each value of a document was written, by field path (`PathFormat`).
    struct Places {
        /// The line of each value.
        var lines: [String: Int] = [:]
        /// The text of each scalar that is not a string (`0x10`, `1e3`), for messages.
        var scalars: [String: String] = [:]
    }

    /// A YAML node as JSON; records each path's line and non-string scalar text in `places`.
    private static func convert(
        _ node: Node, path: [PathKey], places: inout Places, origin: String
    ) throws(CapctlError) -> JSONValue {
        let at = PathFormat.format(path)
        if let line = node.mark?.line { places.lines[at] = line }
        // YAMLPrescan refuses anchors and aliases first; this is for any it did not recognise.
        if node.anchor != nil {
            throw .manifest("\(origin.replacingLine(with: node.mark?.line)): \(at.isEmpty ? "" : at + ": ")YAML anchors and aliases are not supported")
        }
        switch node {
        case .scalar(let scalar):
            let value: JSONValue
            do {
                value = try ManifestScalars.value(scalar.string, tag: Tag.Name(rawValue: node.tag.rawValue))
            } catch {
                throw .manifest("\(origin.replacingLine(with: node.mark?.line)): \(at.isEmpty ? "" : at + ": ")\(error.reason)")
            }
            if case .string = value {} else { places.scalars[at] = scalar.string }
            return value
        case .sequence(let sequence):
            var items: [JSONValue] = []
            for (index, item) in sequence.enumerated() {
                items.append(try convert(item, path: path + [.index(index)], places: &places, origin: origin))
            }
            return .array(items)
        case .mapping(let mapping):
            var members: [(key: String, value: JSONValue)] = []
            var keys = Set<String>()
            for (keyNode, valueNode) in mapping {
                guard case .scalar(let keyScalar) = keyNode else {
                    let at = PathFormat.format(path)
                    throw .manifest("\(origin): \(at.isEmpty ? "" : at + ": ")keys must be plain strings")
                }
                let key = keyScalar.string
                if !keys.insert(key).inserted {
                    throw .manifest("\(origin) (line \(keyNode.mark?.line ?? 0)): \(PathFormat.format(path + [.key(key)])): duplicate key")
                }
                members.append((key, try convert(valueNode, path: path + [.key(key)], places: &places, origin: origin)))
            }
            return .object(members)
        case .alias:
            throw .manifest("\(origin): \(PathFormat.format(path)): YAML aliases are not supported")
        }
    }

    /// The objects of one document: an object with `kind`, a `List`, or an array of objects.
    private static func objectsOf(
        _ value: JSONValue, origin: String, places: Places
    ) throws(CapctlError) -> [ManifestObject] {
        switch value {
        case .null:
            return []  // an empty document (e.g. a trailing `---`)
        case .array(let items):
            var objects: [ManifestObject] = []
            for (index, item) in items.enumerated() {
                objects.append(try decode(item, origin: origin, prefix: [.index(index)], places: places))
            }
            return objects
        case .object:
            if case .string(let kind)? = value["kind"], kind.lowercased() == "list" {
                guard case .array(let items)? = value["items"] else {
                    throw .manifest("\(origin): items: a List needs a list of objects in items")
                }
                var objects: [ManifestObject] = []
                for (index, item) in items.enumerated() {
                    objects.append(try decode(item, origin: origin, prefix: [.key("items"), .index(index)], places: places))
                }
                return objects
            }
            return [try decode(value, origin: origin, prefix: [], places: places)]
        default:
            throw .manifest("\(origin): expected an object with kind, got \(value.shortDescription)")
        }
    }

    /// Decodes one object; `prefix` is its path inside the document (for items of a List).
    private static func decode(
        _ value: JSONValue, origin: String, prefix: [PathKey], places: Places
    ) throws(CapctlError) -> ManifestObject {
        let itemOrigin = prefix.isEmpty ? origin : "\(origin): \(PathFormat.format(prefix))"
        guard case .object(var members) = value else {
            throw .manifest("\(itemOrigin): expected an object with kind, got \(value.shortDescription)")
        }
        guard let kindIndex = members.firstIndex(where: { $0.key == "kind" }) else {
            throw .manifest("\(itemOrigin): missing kind (one of \(Kind.allCases.map(\.name).joined(separator: ", ")))")
        }
        guard case .string(let kindText) = members[kindIndex].value else {
            throw .manifest("\(itemOrigin): kind: expected a string, got \(members[kindIndex].value.shortDescription)")
        }
        let kind: Kind
        do {
            kind = try Kind(parsing: kindText)
        } catch {
            throw .manifest("\(itemOrigin): kind: \(error)")
        }
        members.remove(at: kindIndex)
        if let index = members.firstIndex(where: { $0.key == "apiVersion" || $0.key == "api_version" }) {
            guard case .string(let version) = members[index].value, version == "v1" else {
                throw .manifest("\(itemOrigin): apiVersion: only v1 is supported, got \(members[index].value.shortDescription)")
            }
            members.remove(at: index)
        }
        let stripped = JSONValue.object(members)
        let data = Data(stripped.compactText.utf8)
        do {
            let object = try decodeObject(kind.resource, from: data)
            return ManifestObject(origin: itemOrigin, kind: kind, object: object)
        } catch let error as DecodingError {
            throw .manifest(describe(error, in: stripped, origin: origin, prefix: prefix, places: places))
        } catch {
            throw .manifest("\(itemOrigin): \(error)")
        }
    }

    /// A cluster-scoped object's `metadata.namespace` is dropped, as kubectl drops it: manifests
    /// written for namespaced kinds often carry one, and it means nothing here.
    private static func decodeObject<R: CLIResource>(_ type: R.Type, from data: Data) throws -> any CLIResource {
        var object = try JSONDecoder().decode(R.self, from: data)
        if !R.kind.isNamespaced { object.metadata.namespace = "" }
        return object
    }

    /// `origin (line L): field.path: what is wrong`.
    private static func describe(
        _ error: DecodingError, in value: JSONValue, origin: String, prefix: [PathKey], places: Places
    ) -> String {
        let context: DecodingError.Context
        var reason: String
        /// The scalar as written, when it is not a string.
        func written(_ codingPath: [any CodingKey]) -> String? {
            places.scalars[PathFormat.format(prefix + codingPath.map(PathKey.init))]
        }
        switch error {
        case .typeMismatch(let type, let c):
            context = c
            let got = written(c.codingPath) ?? value.value(at: c.codingPath)?.shortDescription ?? "something else"
            reason = "expected \(expectedName(type)), got \(got)"
        case .valueNotFound(let type, let c):
            context = c
            reason = "expected \(expectedName(type)), got null"
        case .keyNotFound(let key, let c):
            context = c
            reason = "missing field \(key.stringValue)"
        case .dataCorrupted(let c):
            context = c
            reason = rephrase(c.debugDescription, written: written(c.codingPath))
        @unknown default:
            return "\(origin): \(error)"
        }
        let path = prefix + context.codingPath.map(PathKey.init)
        let field = PathFormat.format(path)
        // The line of the field itself when known, else of its nearest ancestor, else the document's.
        var line: Int?
        var search = path
        while line == nil {
            line = places.lines[PathFormat.format(search)]
            if search.isEmpty { break }
            search.removeLast()
        }
        let documentOrigin = origin.replacingLine(with: line)
        return field.isEmpty ? "\(documentOrigin): \(reason)" : "\(documentOrigin): \(field): \(reason)"
    }

    /// The generated decoders say `"http" is not a Int32`; say what a manifest writer expects,
    /// with the scalar as `written` when known (`4294967296`, not the decoder's `4294967296.0`).
    private static func rephrase(_ message: String, written: String?) -> String {
        if let match = message.firstMatch(of: /^(.*) is not a (U?Int\d+)$/) {
            let got = written ?? String(match.1)
            if let number = Double(match.1), number.rounded() == number {
                let type = String(match.2)
                let range = type.hasPrefix("U") ? "0 to \(type == "UInt32" ? "4294967295" : "18446744073709551615")"
                    : type == "Int32" ? "-2147483648 to 2147483647" : "-9223372036854775808 to 9223372036854775807"
                return "\(got) is out of range for \(type.lowercased()) (\(range))"
            }
            return "expected an integer, got \(got)"
        }
        if let match = message.firstMatch(of: /^(.*) is not a (Double|Float)$/) {
            return "expected a number, got \(match.1)"
        }
        return message
    }

    private static func expectedName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is Int.Type, is Int32.Type, is Int64.Type, is UInt32.Type, is UInt64.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        default:
            String(describing: type).hasPrefix("Dictionary") || String(describing: type).contains("Keyed")
                ? "an object" : (String(describing: type).hasPrefix("Array") || String(describing: type).contains("Unkeyed")
                    ? "a list" : "a value of type \(type)")
        }
    }
}

/// One step of a path into a document.
enum PathKey: Sendable, Hashable {
    case key(String)
    case index(Int)

    init(_ codingKey: any CodingKey) {
        if let index = codingKey.intValue, codingKey.stringValue.hasPrefix("Index ") || String(index) == codingKey.stringValue {
            self = .index(index)
        } else {
            self = .key(codingKey.stringValue)
        }
    }
}

/// Field paths as users read them: `spec.containers[0].ports[1].container_port`.
enum PathFormat {
    static func format(_ path: [PathKey]) -> String {
        var out = ""
        for step in path {
            switch step {
            case .index(let index):
                out += "[\(index)]"
            case .key(let key):
                if key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
                    out += (out.isEmpty ? "" : ".") + key
                } else {
                    out += "[\(JSONValue.quoted(key))]"
                }
            }
        }
        return out
    }
}

extension String {
    /// `pods.yaml: document 2 (line 14)` with the line changed to `line` (removed when nil).
    func replacingLine(with line: Int?) -> String {
        replacingOccurrences(of: #"\(line \d+\)$"#, with: line.map { "(line \($0))" } ?? "", options: .regularExpression)
    }
}
