/// Emits a message's Swift value type: stored properties, presence accessors for singular
/// messages, oneof accessors, then its nested types in an extension.
struct MessageGenerator {
    let message: MessageDescriptor
    let entry: TypeIndex.Entry
    let index: TypeIndex
    let file: FileDescriptor
    /// The source-info path of this message (`[4, 2]`, `[4, 2, 3, 0]`).
    let path: [Int32]

    func generate(into p: inout Printer) throws {
        let plans = try message.plans(index)
        let localName = entry.swiftName.split(separator: ".").last.map(String.init)!
        p.docComment(file.comments[path])
        try p.block("public struct \(localName): ProtoMessage") { p in
            p.line("public static let protoMessageName = \"\(entry.protoName)\"")
            p.line()
            for (i, plan) in plans.enumerated() {
                let comment = file.comments[path + [2, Int32(i)]]
                switch plan.shape {
                case .singular, .repeated, .map:
                    p.docComment(comment)
                    let defaultValue: String
                    switch plan.shape {
                    case .repeated: defaultValue = "[]"
                    case .map: defaultValue = "[:]"
                    default: defaultValue = FieldPlan.defaultValue(plan.field, swiftType: plan.swiftType)
                    }
                    p.line("public var \(plan.escapedName): \(plan.declaredType) = \(defaultValue)")
                case .message:
                    emitPresenceAccessors(plan, comment: comment, into: &p)
                case .oneofMember:
                    break
                }
            }
            for (i, oneofName) in message.oneofNames.enumerated() {
                let typeName = OneofGenerator.typeName(oneofName, in: message)
                p.line("public var \(Names.escaped(Names.lowerCamel(oneofName))): \(typeName)? = nil")
                for plan in plans {
                    guard case .oneofMember(let index) = plan.shape, index == i else { continue }
                    emitOneofAccessor(plan, oneof: oneofName, typeName: typeName, into: &p)
                }
            }
            for plan in plans where plan.isPresenceMessage {
                p.line("@usableFromInline var _\(plan.name): \(plan.swiftType)? = nil")
            }
            p.line()
            p.line("@inlinable public init() {}")
            try generateNested(into: &p)
        }
    }

    private func emitPresenceAccessors(_ plan: FieldPlan, comment: String?, into p: inout Printer) {
        let storage = "_\(plan.name)"
        p.docComment(comment)
        p.block("public var \(plan.escapedName): \(plan.swiftType)") { p in
            p.line("@inlinable get { \(storage) ?? \(plan.swiftType)() }")
            p.line("@inlinable set { \(storage) = newValue }")
            p.block("@inlinable _modify") { p in
                p.line("if \(storage) == nil { \(storage) = \(plan.swiftType)() }")
                p.line("yield &\(storage)!")
            }
        }
        let upper = Names.upperCamel(plan.field.name)
        p.line("/// Whether `\(plan.name)` is set.")
        p.line("@inlinable public var has\(upper): Bool { \(storage) != nil }")
        p.line("/// Unsets `\(plan.name)`.")
        p.line("@inlinable public mutating func clear\(upper)() { \(storage) = nil }")
    }

    private func emitOneofAccessor(_ plan: FieldPlan, oneof: String, typeName: String, into p: inout Printer) {
        let oneofProperty = Names.escaped(Names.lowerCamel(oneof))
        let caseName = Names.escaped(plan.name)
        p.line("/// The `\(plan.field.name)` case of `\(oneof)`, or its default when another case is set.")
        p.block("public var \(plan.escapedName): \(plan.swiftType)") { p in
            p.block("@inlinable get") { p in
                p.line("if case .\(caseName)(let v)? = \(oneofProperty) { return v }")
                p.line("return \(FieldPlan.defaultValue(plan.field, swiftType: plan.swiftType))")
            }
            p.line("@inlinable set { \(oneofProperty) = .\(caseName)(newValue) }")
        }
    }

    /// Oneof enums, nested enums and nested messages go inside the struct, so nesting of any
    /// depth needs no extensions.
    private func generateNested(into p: inout Printer) throws {
        let plans = try message.plans(index)
        for (i, oneofName) in message.oneofNames.enumerated() {
            let members = plans.filter {
                if case .oneofMember(let index) = $0.shape { return index == i } else { return false }
            }
            p.line()
            var recursive = false
            for member in members where member.field.type == .message {
                if try index.reaches(member.field.typeName, "." + entry.protoName) { recursive = true }
            }
            OneofGenerator(name: oneofName, message: message, members: members, recursive: recursive)
                .generate(into: &p)
        }
        for (i, e) in message.enums.enumerated() {
            let nestedEntry = try index["." + entry.protoName + "." + e.name]
            p.line()
            EnumGenerator(e: e, entry: nestedEntry, file: file, path: path + [4, Int32(i)]).generate(into: &p)
        }
        for (i, nested) in message.nestedTypes.enumerated() where !nested.isMapEntry {
            let nestedEntry = try index["." + entry.protoName + "." + nested.name]
            p.line()
            try MessageGenerator(
                message: nested, entry: nestedEntry, index: index, file: file, path: path + [3, Int32(i)]
            ).generate(into: &p)
        }
    }
}

extension FieldPlan {
    var isPresenceMessage: Bool {
        if case .message = shape { return true }
        return false
    }
}
