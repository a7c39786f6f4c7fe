/// Emits, for tests, a `random(_:depth:)` constructor per message that fills every field with
/// values chosen by the test target's `RandomValues` (hand-written there): empty and non-ASCII
/// strings, extreme integers, empty and large repeated fields, maps, every oneof case, and
/// submessages nested `depth` levels deep.
struct RandomGenerator {
    let message: MessageDescriptor
    let entry: TypeIndex.Entry
    let index: TypeIndex

    func generate(into p: inout Printer) throws {
        let plans = try message.plans(index)
        p.block("extension \(entry.swiftName): RandomMessage") { p in
            p.block("static func random(_ g: inout RandomValues, depth: Int) -> \(entry.swiftName)") { p in
                switch entry.protoName {
                case "google.protobuf.Timestamp":
                    p.line("var m = \(entry.swiftName)()")
                    p.line("(m.seconds, m.nanos) = g.timestamp()")
                    p.line("return m")
                    return
                case "google.protobuf.Duration":
                    p.line("var m = \(entry.swiftName)()")
                    p.line("(m.seconds, m.nanos) = g.duration()")
                    p.line("return m")
                    return
                default: break
                }
                guard !plans.isEmpty else {
                    p.line("\(entry.swiftName)()")
                    return
                }
                p.line("var m = \(entry.swiftName)()")
                for plan in plans {
                    let name = "m." + plan.escapedName
                    switch plan.shape {
                    case .singular:
                        p.line("\(name) = \(value(plan.field, swiftType: plan.swiftType))")
                    case .message:
                        p.line("if depth > 0, g.bool() { \(name) = \(value(plan.field, swiftType: plan.swiftType)) }")
                    case .repeated:
                        let large = plan.field.type == .message ? "false" : "true"
                        let guardDepth = plan.field.type == .message ? "depth > 0 ? " : ""
                        let orEmpty = plan.field.type == .message ? " : []" : ""
                        p.line("\(name) = \(guardDepth)g.array(large: \(large)) { g in \(value(plan.field, swiftType: plan.swiftType)) }\(orEmpty)")
                    case .map(let key, let value):
                        let keyType = FieldPlan.scalarSwiftType(key.type)
                        let guardDepth = value.type == .message ? "depth > 0 ? " : ""
                        let orEmpty = value.type == .message ? " : [:]" : ""
                        p.line("\(name) = \(guardDepth)g.map(key: { g in \(self.value(key, swiftType: keyType)) }, value: { g in \(self.value(value, swiftType: plan.swiftType)) })\(orEmpty)")
                    case .oneofMember:
                        break
                    }
                }
                for (i, oneof) in message.oneofNames.enumerated() {
                    let members = plans.filter {
                        if case .oneofMember(let index) = $0.shape { return index == i } else { return false }
                    }
                    p.block("switch g.int(0...\(members.count))") { p in
                        for (n, member) in members.enumerated() {
                            p.line("case \(n + 1): m.\(Names.escaped(Names.lowerCamel(oneof))) = .\(member.escapedName)(\(value(member.field, swiftType: member.swiftType)))")
                        }
                        p.line("default: break")
                    }
                }
                p.line("return m")
            }
        }
    }

    private func value(_ field: FieldDescriptor, swiftType: String) -> String {
        switch field.type {
        case .double: "g.double()"
        case .float: "g.float()"
        case .int64, .sint64, .sfixed64: "g.int64()"
        case .uint64, .fixed64: "g.uint64()"
        case .int32, .sint32, .sfixed32: "g.int32()"
        case .uint32, .fixed32: "g.uint32()"
        case .bool: "g.bool()"
        case .string: "g.string()"
        case .bytes: "g.bytes()"
        case .enum: "g.enumValue(\(swiftType).self)"
        case .message: "\(swiftType).random(&g, depth: max(depth - 1, 0))"
        case .group: "()"
        }
    }
}
