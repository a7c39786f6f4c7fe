/// What the generators need to know about one field, worked out once.
struct FieldPlan {
    enum Shape {
        /// A singular scalar, string, bytes or enum.
        case singular
        /// A singular message (has presence).
        case message
        case repeated
        case map(key: FieldDescriptor, value: FieldDescriptor)
        /// A member of oneof number `index`.
        case oneofMember(index: Int)
    }

    let field: FieldDescriptor
    let shape: Shape
    /// The Swift property name, unescaped (`containerPort`).
    let name: String
    /// The C struct member (`container_port`, `namespace_`).
    let cName: String
    /// The Swift type of one value (element type for repeated and map value type for maps).
    let swiftType: String
    /// For message and enum values: the index entry of the value type.
    let valueEntry: TypeIndex.Entry?

    var escapedName: String { Names.escaped(name) }

    init(field: FieldDescriptor, in message: MessageDescriptor, index: TypeIndex) throws {
        self.field = field
        name = Names.lowerCamel(field.name)
        cName = Names.cFieldName(field.name)
        if field.proto3Optional {
            throw CodegenError("field \(field.name): proto3 `optional` is not supported by protoc-c 1.4.1; use a wrapper message")
        }
        if field.type == .group { throw CodegenError("field \(field.name): groups are not supported") }
        if let oneof = field.oneofIndex {
            shape = .oneofMember(index: Int(oneof))
        } else if field.label == .repeated, field.type == .message,
                  case .message(let entry) = try index[field.typeName].kind, entry.isMapEntry {
            guard entry.fields.count == 2 else { throw CodegenError("map entry \(field.typeName) malformed") }
            let key = entry.fields.first { $0.number == 1 }!
            let value = entry.fields.first { $0.number == 2 }!
            shape = .map(key: key, value: value)
        } else if field.label == .repeated {
            shape = .repeated
        } else if field.type == .message {
            shape = .message
        } else {
            shape = .singular
        }
        switch shape {
        case .map(_, let value):
            valueEntry = value.type == .message || value.type == .enum ? try index[value.typeName] : nil
            swiftType = try Self.swiftType(of: value, index: index)
        default:
            valueEntry = field.type == .message || field.type == .enum ? try index[field.typeName] : nil
            swiftType = try Self.swiftType(of: field, index: index)
        }
    }

    /// The Swift type for one value of a field.
    static func swiftType(of field: FieldDescriptor, index: TypeIndex) throws -> String {
        switch field.type {
        case .double: "Double"
        case .float: "Float"
        case .int64, .sint64, .sfixed64: "Int64"
        case .uint64, .fixed64: "UInt64"
        case .int32, .sint32, .sfixed32: "Int32"
        case .uint32, .fixed32: "UInt32"
        case .bool: "Bool"
        case .string: "String"
        case .bytes: "[UInt8]"
        case .message, .enum: try index[field.typeName].swiftName
        case .group: throw CodegenError("groups are not supported")
        }
    }

    /// The Swift type of the property as declared.
    var declaredType: String {
        switch shape {
        case .singular, .message, .oneofMember: swiftType
        case .repeated: "[\(swiftType)]"
        case .map(let key, _): "[\(Self.scalarSwiftType(key.type)): \(swiftType)]"
        }
    }

    static func scalarSwiftType(_ type: FieldType) -> String {
        switch type {
        case .int64, .sint64, .sfixed64: "Int64"
        case .uint64, .fixed64: "UInt64"
        case .int32, .sint32, .sfixed32: "Int32"
        case .uint32, .fixed32: "UInt32"
        case .bool: "Bool"
        default: "String"
        }
    }

    /// The default value expression of one value.
    static func defaultValue(_ field: FieldDescriptor, swiftType: String) -> String {
        switch field.type {
        case .string: "\"\""
        case .bytes: "[]"
        case .bool: "false"
        case .message, .enum: "\(swiftType)()"
        default: "0"
        }
    }
}

extension MessageDescriptor {
    /// The fields, planned, in declaration order.
    func plans(_ index: TypeIndex) throws -> [FieldPlan] {
        try fields.map { try FieldPlan(field: $0, in: self, index: index) }
    }
}
