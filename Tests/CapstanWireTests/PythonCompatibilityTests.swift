import CapstanAPI
import CapstanWire
import CapstanProcessSupport
import Foundation
import Testing

/// Byte-level and JSON compatibility with an independent implementation, Python's `protobuf`:
/// it decodes what we encode (and re-encodes it byte for byte the same), parses our JSON to the
/// same message, and we decode its bytes and its JSON back to the values we started from. The
/// descriptors embedded for server reflection must equal what protoc produces.
///
/// Needs a Python with the packages of `Tests/python/requirements.txt`: `make test` provides one in
/// `.venv/`; elsewhere set `CAPSTAN_PYTHON`.
@Suite struct PythonCompatibilityTests {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var python: String? {
        if let p = ProcessInfo.processInfo.environment["CAPSTAN_PYTHON"], !p.isEmpty { return p }
        let venv = packageRoot.appendingPathComponent(".venv/bin/python").path
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : nil
    }

    struct Line: Codable {
        var type: String
        var bytes: String
        var json: JSONValue?
    }

    @Test func pythonAgreesBothWays() async throws {
        guard let python = Self.python else {
            Issue.record("no Python with protobuf: run `make test` (it creates .venv) or set CAPSTAN_PYTHON")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-wire-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        // Our side: random values of every message type, as bytes and JSON.
        var originals: [any RandomMessage] = []
        var corpus = ""
        for type in AllMessageTypes.all {
            var g = RandomValues(seed: RandomValues.seed(type.protoMessageName) &+ 2)
            for _ in 0..<8 {
                let value = type.random(&g, depth: 3)
                originals.append(value)
                corpus += try Self.line(value) + "\n"
            }
        }
        let input = dir.appendingPathComponent("ours.jsonl")
        let output = dir.appendingPathComponent("theirs.jsonl")
        try corpus.write(to: input, atomically: true, encoding: .utf8)
        let descriptors = dir.appendingPathComponent("descriptors.json")
        try JSONEncoder().encode(CapstanFileDescriptors.all.map { Base64.encode($0.serialized) }).write(to: descriptors)

        // Their side.
        let process = Subprocess()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [
            Self.packageRoot.appendingPathComponent("Tests/python/wire_compat.py").path,
            Self.packageRoot.appendingPathComponent("proto").path, input.path, output.path, descriptors.path,
        ]
        // Into a file, awaited without blocking: a cooperative thread (one of two on a 2-core
        // machine) blocked for the whole Python run would stall every other test meanwhile.
        let reportPath = dir.appendingPathComponent("report.txt").path
        _ = FileManager.default.createFile(atPath: reportPath, contents: nil)
        let reportFile = try FileHandle(forWritingTo: URL(fileURLWithPath: reportPath))
        process.standardError = reportFile
        try await ProcessSpawner.shared.spawn(process, killedWithParent: true)
        try reportFile.close()
        await process.waitForExit()
        let report = (try? String(contentsOfFile: reportPath, encoding: .utf8)) ?? ""
        #expect(process.terminationStatus == 0, "Python disagreed:\n\(report)")

        // Back to us: their bytes and their JSON decode to our original values.
        let lines = try String(contentsOf: output, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == originals.count)
        for (line, original) in zip(lines, originals) {
            let theirs = try JSONDecoder().decode(Line.self, from: Data(line.utf8))
            try Self.compare(original, theirs)
        }
    }

    static func line<M: RandomMessage>(_ value: M) throws -> String {
        let wire = value as! any WireMessage
        let json = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value))
        let line = Line(type: M.protoMessageName, bytes: Base64.encode(wire.serializedBytes()), json: json)
        return String(decoding: try JSONEncoder().encode(line), as: UTF8.self)
    }

    static func compare<M: RandomMessage>(_ original: M, _ theirs: Line) throws {
        #expect(theirs.type == M.protoMessageName)
        let wireType = M.self as! any WireMessage.Type
        let fromBytes = try wireType.init(serializedBytes: Base64.decode(theirs.bytes) ?? [])
        #expect(fromBytes as? M == original, "\(M.protoMessageName): Python's bytes decode differently")
        if let json = theirs.json {
            let fromJSON = try JSONDecoder().decode(M.self, from: JSONEncoder().encode(json))
            #expect(fromJSON == original, "\(M.protoMessageName): Python's JSON decodes differently: \(json)")
        }
    }
}

/// Any JSON value, to carry JSON through another JSON document unchanged.
enum JSONValue: Codable, Sendable, CustomStringConvertible {
    case null, bool(Bool), number(Double), integer(Int64), string(String), array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .integer(i) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let d): try c.encode(d)
        case .integer(let i): try c.encode(i)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    var description: String {
        (try? String(decoding: JSONEncoder().encode(self), as: UTF8.self)) ?? "?"
    }
}
