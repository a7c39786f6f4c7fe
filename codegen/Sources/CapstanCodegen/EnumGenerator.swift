/// Emits a proto enum as a Swift enum that keeps values it does not know.
struct EnumGenerator {
    let e: EnumDescriptor
    let entry: TypeIndex.Entry
    let file: FileDescriptor
    let path: [Int32]

    /// Values with distinct numbers (the first name of an alias wins), and their Swift case names.
    var cases: [(value: EnumValueDescriptor, swiftName: String, index: Int)] {
        var seen = Set<Int32>()
        var result: [(EnumValueDescriptor, String, Int)] = []
        for (i, v) in e.values.enumerated() where seen.insert(v.number).inserted {
            result.append((v, Names.enumCase(v.name, enumName: e.name), i))
        }
        return result
    }

    func generate(into p: inout Printer) {
        let localName = entry.swiftName.split(separator: ".").last.map(String.init)!
        let cases = self.cases
        let zero = cases.first { $0.value.number == 0 } ?? cases[0]
        let prefix = Names.upperSnake(e.name) + "_"
        p.docComment(file.comments[path])
        p.block("public enum \(localName): ProtoEnum") { p in
            for c in cases {
                p.docComment(file.comments[path + [2, Int32(c.index)]])
                p.line("case \(Names.escaped(c.swiftName)) // = \(c.value.number)")
            }
            p.line("/// A value this version of the schema does not know; kept so it survives a round trip.")
            p.line("case unrecognized(Int32)")
            p.line()
            p.line("public static let protoEnumName = \"\(entry.protoName)\"")
            p.line("public static let protoValuePrefix = \"\(prefix)\"")
            p.line("public static let allCases: [\(localName)] = [\(cases.map { "." + Names.escaped($0.swiftName) }.joined(separator: ", "))]")
            p.line()
            p.line("public init() { self = .\(Names.escaped(zero.swiftName)) }")
            p.line()
            p.block("public init(rawValue: Int32)") { p in
                p.block("switch rawValue") { p in
                    for c in cases { p.line("case \(c.value.number): self = .\(Names.escaped(c.swiftName))") }
                    p.line("default: self = .unrecognized(rawValue)")
                }
            }
            p.line()
            p.block("public var rawValue: Int32") { p in
                p.block("switch self") { p in
                    for c in cases { p.line("case .\(Names.escaped(c.swiftName)): \(c.value.number)") }
                    p.line("case .unrecognized(let value): value")
                }
            }
            p.line()
            p.line("/// The value's name in the schema, or nil for an unrecognized value.")
            p.block("public var protoName: String?") { p in
                p.block("switch self") { p in
                    for c in cases { p.line("case .\(Names.escaped(c.swiftName)): \"\(c.value.name)\"") }
                    p.line("case .unrecognized: nil")
                }
            }
        }
    }
}
