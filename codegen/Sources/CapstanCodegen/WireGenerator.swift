/// Emits a message's conversions to and from its protobuf-c struct, and its `WireMessage`
/// conformance. Encoding fills a C struct tree in an arena and packs it with protobuf-c; decoding
/// unpacks with protobuf-c into an arena and copies the tree into Swift values.
struct WireGenerator {
    let message: MessageDescriptor
    let entry: TypeIndex.Entry
    let index: TypeIndex

    func generate(into p: inout Printer) throws {
        let plans = try message.plans(index)
        try p.block("extension \(entry.swiftName): CMessage") { p in
            p.line("package typealias CStruct = \(entry.cType)")
            p.line()
            p.line("package static func cInit(_ c: UnsafeMutablePointer<CStruct>) { \(entry.cPrefix)__init(c) }")
            p.line()
            p.line("/// The address of protoc-c's descriptor (a C global with static storage), read from an initialised struct.")
            p.line("package static let cDescriptorAddress: UInt = {")
            p.indent()
            p.line("var m = CStruct()")
            p.line("\(entry.cPrefix)__init(&m)")
            p.line("return UInt(bitPattern: m.base.descriptor)")
            p.outdent()
            p.line("}()")
            p.line()
            try p.block("package func cFill(_ c: UnsafeMutablePointer<CStruct>, _ arena: Arena)") { p in
                for plan in plans { try fill(plan, into: &p) }
                for (i, oneof) in message.oneofNames.enumerated() {
                    try fillOneof(i, name: oneof, plans: plans, into: &p)
                }
            }
            p.line()
            try p.block("package init(cMessage c: UnsafePointer<CStruct>) throws(WireError)") { p in
                p.line("self.init()")
                if !plans.isEmpty { p.line("let m = c.pointee") }
                for plan in plans { try read(plan, into: &p) }
                for (i, oneof) in message.oneofNames.enumerated() {
                    try readOneof(i, name: oneof, plans: plans, into: &p)
                }
            }
        }
        p.line()
        p.block("extension \(entry.swiftName): WireMessage") { p in
            p.block("public init(serializedBytes bytes: UnsafeRawBufferPointer) throws(WireError)") { p in
                p.line("self = try CWire.decode(Self.self, bytes)")
            }
            p.line()
            p.block("public func serializedBytes() -> [UInt8]") { p in
                p.line("CWire.encode(self)")
            }
            p.line()
            p.block("public func wholeSerializedBytes() throws(WireError) -> [UInt8]") { p in
                p.line("try CWire.encodeWhole(self)")
            }
        }
    }

    private func cEnumType(_ field: FieldDescriptor) throws -> String {
        try index[field.typeName].cType
    }

    /// The C value for one Swift value `v` of `field`'s type; `inOneof` keeps empty strings non-null.
    private func cValue(_ field: FieldDescriptor, _ v: String, nonNullString: Bool) throws -> String {
        switch field.type {
        case .string: nonNullString ? "arena.string(\(v))" : "arena.optionalString(\(v))"
        case .bytes: "arena.bytes(\(v))"
        case .bool: "\(v) ? 1 : 0"
        case .enum: "\(try cEnumType(field))(rawValue: .init(truncatingIfNeeded: \(v).rawValue))"
        case .message: "arena.message(\(v))"
        default: v
        }
    }

    /// The Swift value for one C value `v` of `field`'s type.
    private func swiftValue(_ field: FieldDescriptor, _ v: String, swiftType: String) -> String {
        switch field.type {
        case .string: "try CWire.string(\(v))"
        case .bytes: "CWire.bytes(\(v))"
        case .bool: "\(v) != 0"
        case .enum: "\(swiftType)(rawValue: Int32(truncatingIfNeeded: \(v).rawValue))"
        case .message: "try CWire.message(\(v), \(swiftType).self)"
        default: v
        }
    }

    private func fill(_ plan: FieldPlan, into p: inout Printer) throws {
        let name = "self." + plan.escapedName
        let c = "c.pointee.\(Names.escaped(plan.cName))"
        let count = "c.pointee.n_\(plan.cName)"
        switch plan.shape {
        case .singular:
            p.line("\(c) = \(try cValue(plan.field, name, nonNullString: false))")
        case .message:
            p.line("if self.has\(Names.upperCamel(plan.field.name)) { \(c) = arena.message(\(name)) }")
        case .oneofMember:
            break
        case .repeated:
            try p.block("if !\(name).isEmpty") { p in
                p.line("\(count) = \(name).count")
                switch plan.field.type {
                case .message: p.line("\(c) = arena.messages(\(name))")
                case .string: p.line("\(c) = arena.strings(\(name))")
                case .bytes: p.line("\(c) = arena.bytesArray(\(name))")
                case .bool: p.line("\(c) = arena.bools(\(name))")
                case .enum: p.line("\(c) = arena.enums(\(name), as: \(try cEnumType(plan.field)).self)")
                default: p.line("\(c) = arena.scalars(\(name))")
                }
            }
        case .map(let key, let value):
            let entryType = try index[plan.field.typeName]
            let sort = key.type == .bool ? "{ !$0.key && $1.key }" : "{ $0.key < $1.key }"
            try p.block("if !\(name).isEmpty") { p in
                p.line("\(count) = \(name).count")
                try p.block("\(c) = arena.entries(\(name).sorted \(sort), \(entryType.cType).self, \(entryType.cPrefix)__init)") { p in
                    p.line("e, k, v in")
                    p.line("e.pointee.key = \(try cValue(key, "k", nonNullString: true))")
                    p.line("e.pointee.value = \(try cValue(value, "v", nonNullString: true))")
                }
            }
        }
    }

    private func fillOneof(_ i: Int, name: String, plans: [FieldPlan], into p: inout Printer) throws {
        let caseType = entry.cType + "__" + Names.protocCCamel(name) + "Case"
        try p.block("switch self.\(Names.escaped(Names.lowerCamel(name)))") { p in
            for plan in plans {
                guard case .oneofMember(let index) = plan.shape, index == i else { continue }
                p.line("case .\(plan.escapedName)(let v)?:")
                p.indent()
                p.line("c.pointee.\(Names.cFieldName(name))_case = \(caseType)(rawValue: \(plan.field.number))")
                p.line("c.pointee.\(Names.escaped(plan.cName)) = \(try cValue(plan.field, "v", nonNullString: true))")
                p.outdent()
            }
            p.line("case nil: break")
        }
    }

    private func read(_ plan: FieldPlan, into p: inout Printer) throws {
        let name = "self.\(plan.escapedName)"
        let m = "m.\(Names.escaped(plan.cName))"
        let count = "m.n_\(plan.cName)"
        switch plan.shape {
        case .singular:
            p.line("\(name) = \(swiftValue(plan.field, m, swiftType: plan.swiftType))")
        case .message:
            p.line("if let v = \(m) { \(name) = try \(plan.swiftType)(cMessage: v) }")
        case .oneofMember:
            break
        case .repeated:
            switch plan.field.type {
            case .message: p.line("\(name) = try CWire.messages(\(m), \(count), \(plan.swiftType).self)")
            case .string: p.line("\(name) = try CWire.strings(\(m), \(count))")
            case .bytes: p.line("\(name) = CWire.bytesArray(\(m), \(count))")
            case .bool: p.line("\(name) = CWire.bools(\(m), \(count))")
            case .enum: p.line("\(name) = CWire.enums(\(m), \(count), \(plan.swiftType).self)")
            default: p.line("\(name) = CWire.scalars(\(m), \(count))")
            }
        case .map(let key, let value):
            let keyType = FieldPlan.scalarSwiftType(key.type)
            p.block("if \(count) > 0, let entries = \(m)") { p in
                p.line("\(name).reserveCapacity(\(count))")
                p.block("for i in 0..<\(count)") { p in
                    p.line("guard let e = entries[i] else { continue }")
                    p.line("\(name)[\(swiftValue(key, "e.pointee.key", swiftType: keyType))] = \(swiftValue(value, "e.pointee.value", swiftType: plan.swiftType))")
                }
            }
        }
    }

    private func readOneof(_ i: Int, name: String, plans: [FieldPlan], into p: inout Printer) throws {
        p.block("switch m.\(Names.cFieldName(name))_case.rawValue") { p in
            for plan in plans {
                guard case .oneofMember(let index) = plan.shape, index == i else { continue }
                let value = swiftValue(plan.field, "m.\(Names.escaped(plan.cName))", swiftType: plan.swiftType)
                p.line("case \(plan.field.number): self.\(Names.escaped(Names.lowerCamel(name))) = .\(plan.escapedName)(\(value))")
            }
            p.line("default: break")
        }
    }
}
