/// Emits `Codable` conformances in proto3's JSON mapping: lowerCamel json names on output, json or
/// proto field names accepted on input, default values omitted, 64-bit integers as strings, bytes
/// as base64, enums by name, unknown fields rejected with their path.
struct JSONGenerator {
    let message: MessageDescriptor
    let entry: TypeIndex.Entry
    let index: TypeIndex

    func generate(into p: inout Printer) throws {
        switch entry.protoName {
        case "google.protobuf.Timestamp": return generateWellKnown("Timestamp", into: &p)
        case "google.protobuf.Duration": return generateWellKnown("Duration", into: &p)
        default: break
        }
        let plans = try message.plans(index)
        try p.block("extension \(entry.swiftName): Codable") { p in
            try generateDecoder(plans, into: &p)
            p.line()
            try generateEncoder(plans, into: &p)
        }
    }

    private func generateWellKnown(_ kind: String, into p: inout Printer) {
        p.block("extension \(entry.swiftName): Codable") { p in
            p.block("public init(from decoder: any Decoder) throws") { p in
                p.line("let text = try decoder.singleValueContainer().decode(String.self)")
                p.line("(seconds, nanos) = try ProtoJSON.parse\(kind)(text, codingPath: decoder.codingPath)")
            }
            p.line()
            p.block("public func encode(to encoder: any Encoder) throws") { p in
                p.line("var container = encoder.singleValueContainer()")
                p.line("try container.encode(try ProtoJSON.format\(kind)(seconds: seconds, nanos: nanos, codingPath: encoder.codingPath))")
            }
        }
    }

    /// The wrapper type that carries a value's JSON form, or nil where the value codes itself.
    static func wrapper(_ type: FieldType) -> String? {
        switch type {
        case .int64, .sint64, .sfixed64: "ProtoJSONInt64"
        case .uint64, .fixed64: "ProtoJSONUInt64"
        case .int32, .sint32, .sfixed32: "ProtoJSONInt32"
        case .uint32, .fixed32: "ProtoJSONUInt32"
        case .double: "ProtoJSONDouble"
        case .float: "ProtoJSONFloat"
        case .bytes: "ProtoJSONBytes"
        default: nil
        }
    }

    private func generateDecoder(_ plans: [FieldPlan], into p: inout Printer) throws {
        p.block("public init(from decoder: any Decoder) throws") { p in
            p.line("self.init()")
            p.line("let container = try decoder.container(keyedBy: ProtoJSONKey.self)")
            let groups = conflictGroups(plans)
            if !groups.isEmpty {
                let literal = groups.map { "[" + $0.map { "\"\($0)\"" }.joined(separator: ", ") + "]" }.joined(separator: ", ")
                p.line("try ProtoJSON.refuseConflicts(in: container, message: Self.protoMessageName, groups: [\(literal)])")
            }
            p.block("for jsonKey in container.allKeys") { p in
                p.block("switch jsonKey.stringValue") { p in
                    for plan in plans {
                        let names = [plan.field.jsonName, plan.field.name]
                        let labels = (names[0] == names[1] ? [names[0]] : names).map { "\"\($0)\"" }
                        p.line("case \(labels.joined(separator: ", ")):")
                        p.indent()
                        decodeField(plan, into: &p)
                        p.outdent()
                    }
                    let known = plans.map { "\"\($0.field.jsonName)\"" }.joined(separator: ", ")
                    p.line("default:")
                    p.line("    throw ProtoJSON.unknownField(jsonKey, in: container, message: Self.protoMessageName, known: [\(known)])")
                }
            }
        }
    }

    /// Keys that may not occur together in one object: a field's two spellings, and every
    /// spelling of every member of one oneof. The decoder loops over the object's keys in no
    /// particular order, so without the check the last one seen would silently win.
    private func conflictGroups(_ plans: [FieldPlan]) -> [[String]] {
        func spellings(_ plan: FieldPlan) -> [String] {
            plan.field.jsonName == plan.field.name ? [plan.field.name] : [plan.field.jsonName, plan.field.name]
        }
        var groups: [[String]] = []
        for plan in plans {
            if case .oneofMember = plan.shape { continue }
            let names = spellings(plan)
            if names.count > 1 { groups.append(names) }
        }
        for i in message.oneofNames.indices {
            let members = plans.filter { plan in
                if case .oneofMember(let index) = plan.shape { return index == i }
                return false
            }
            let names = members.flatMap(spellings)
            if names.count > 1 { groups.append(names) }
        }
        return groups
    }

    private func decodeField(_ plan: FieldPlan, into p: inout Printer) {
        let name = "self." + plan.escapedName
        switch plan.shape {
        case .singular, .message:
            if let w = Self.wrapper(plan.field.type) {
                p.line("if let v = try container.protoDecode(\(w).self, forKey: jsonKey) { \(name) = v.value }")
            } else {
                p.line("if let v = try container.protoDecode(\(plan.swiftType).self, forKey: jsonKey) { \(name) = v }")
            }
        case .oneofMember(let i):
            let oneof = "self." + Names.escaped(Names.lowerCamel(message.oneofNames[i]))
            let value = Self.wrapper(plan.field.type).map { "\($0).self, forKey: jsonKey)?.value" }
                ?? "\(plan.swiftType).self, forKey: jsonKey)"
            p.line("if let v = try container.protoDecode(\(value) { \(oneof) = .\(plan.escapedName)(v) }")
        case .repeated:
            if let w = Self.wrapper(plan.field.type) {
                p.line("if let v = try container.protoDecode([\(w)].self, forKey: jsonKey) { \(name) = v.map(\\.value) }")
            } else {
                p.line("if let v = try container.protoDecode([\(plan.swiftType)].self, forKey: jsonKey) { \(name) = v }")
            }
        case .map(let key, let value):
            let keyType = FieldPlan.scalarSwiftType(key.type)
            let valueType = Self.wrapper(value.type) ?? plan.swiftType
            let valueMap = Self.wrapper(value.type) == nil ? "" : ".mapValues(\\.value)"
            if keyType == "String" {
                p.line("if let v = try container.protoDecode([String: \(valueType)].self, forKey: jsonKey) { \(name) = v\(valueMap) }")
            } else {
                p.block("if let v = try container.protoDecode([String: \(valueType)].self, forKey: jsonKey)") { p in
                    p.line("\(name) = try ProtoJSON.mapKeys(v\(valueMap), as: \(keyType).self, codingPath: container.codingPath + [jsonKey])")
                }
            }
        }
    }

    private func generateEncoder(_ plans: [FieldPlan], into p: inout Printer) throws {
        p.block("public func encode(to encoder: any Encoder) throws") { p in
            guard !plans.isEmpty else {
                p.line("_ = encoder.container(keyedBy: ProtoJSONKey.self)")
                return
            }
            p.line("var container = encoder.container(keyedBy: ProtoJSONKey.self)")
            for plan in plans {
                encodeField(plan, into: &p)
            }
            for (i, oneofName) in message.oneofNames.enumerated() {
                p.block("switch self.\(Names.escaped(Names.lowerCamel(oneofName)))") { p in
                    for plan in plans {
                        guard case .oneofMember(let index) = plan.shape, index == i else { continue }
                        let value = Self.wrapper(plan.field.type).map { "\($0)(v)" } ?? "v"
                        p.line("case .\(plan.escapedName)(let v)?: try container.encode(\(value), forKey: \"\(plan.field.jsonName)\")")
                    }
                    p.line("case nil: break")
                }
            }
        }
    }

    private func encodeField(_ plan: FieldPlan, into p: inout Printer) {
        let name = "self." + plan.escapedName
        let key = "\"\(plan.field.jsonName)\""
        switch plan.shape {
        case .singular:
            let isSet: String
            switch plan.field.type {
            case .string, .bytes: isSet = "!\(name).isEmpty"
            case .bool: isSet = name
            case .enum: isSet = "\(name).rawValue != 0"
            default: isSet = "\(name) != 0"
            }
            let value = Self.wrapper(plan.field.type).map { "\($0)(\(name))" } ?? name
            p.line("if \(isSet) { try container.encode(\(value), forKey: \(key)) }")
        case .message:
            p.line("if let v = self._\(plan.name) { try container.encode(v, forKey: \(key)) }")
        case .oneofMember:
            break
        case .repeated:
            let value = Self.wrapper(plan.field.type).map { "\(name).map(\($0).init)" } ?? name
            p.line("if !\(name).isEmpty { try container.encode(\(value), forKey: \(key)) }")
        case .map(let keyField, let valueField):
            let keyIsString = FieldPlan.scalarSwiftType(keyField.type) == "String"
            let wrapper = Self.wrapper(valueField.type)
            var value = name
            if !keyIsString {
                value = "ProtoJSON.stringKeys(\(value))"
            }
            if let wrapper { value += ".mapValues(\(wrapper).init)" }
            p.line("if !\(name).isEmpty { try container.encode(\(value), forKey: \(key)) }")
        }
    }
}
