/// What one serialized `google.protobuf.FileDescriptorProto` defines, read straight from its
/// bytes: every fully qualified symbol (with its kind) and every extension it declares.
///
/// Reflection needs more than the generated `ProtoFileDescriptor.symbols` list: grpc resolves
/// fields, oneofs, enum values and extensions too, and must tell message types apart from other
/// symbols. Only the few descriptor fields that name things are read; everything else is skipped.
struct FileDescriptorSymbols: Sendable, Hashable {
    enum Kind: Sendable, Hashable {
        case message, enumeration, enumValue, field, oneof, service, method, `extension`
    }

    struct Symbol: Sendable, Hashable {
        let name: String
        let kind: Kind
    }

    /// An extension field: the message it extends (fully qualified, no leading dot) and its number.
    struct Extension: Sendable, Hashable {
        let extendee: String
        let number: Int32
    }

    private(set) var symbols: [Symbol] = []
    private(set) var extensions: [Extension] = []

    /// Field numbers of `descriptor.proto`, for the messages read here.
    private enum FieldNumber {
        // FileDescriptorProto
        static let filePackage = 2, fileMessages = 4, fileEnums = 5, fileServices = 6, fileExtensions = 7
        // DescriptorProto
        static let messageName = 1, messageFields = 2, messageNested = 3, messageEnums = 4
        static let messageExtensions = 6, messageOneofs = 8
        // FieldDescriptorProto
        static let fieldName = 1, fieldExtendee = 2, fieldNumber = 3
        // EnumDescriptorProto, EnumValueDescriptorProto, ServiceDescriptorProto, MethodDescriptorProto,
        // OneofDescriptorProto: the name is field 1; enum values and methods are field 2.
        static let name = 1, enumValues = 2, serviceMethods = 2
    }

    /// Reads `serialized`; throws `ProtoWireReader.Malformed` for bytes that are not a valid encoding.
    init(serialized: [UInt8]) throws(ProtoWireReader.Malformed) {
        let file = try ProtoWireReader.fields(of: serialized[...])
        let package = try file.string(FieldNumber.filePackage) ?? ""
        for message in file.messages(FieldNumber.fileMessages) { try addMessage(message, scope: package) }
        for enumeration in file.messages(FieldNumber.fileEnums) { try addEnum(enumeration, scope: package) }
        for service in file.messages(FieldNumber.fileServices) { try addService(service, scope: package) }
        for field in file.messages(FieldNumber.fileExtensions) { try addExtension(field, scope: package) }
    }

    private mutating func addMessage(_ bytes: ArraySlice<UInt8>, scope: String) throws(ProtoWireReader.Malformed) {
        let message = try ProtoWireReader.fields(of: bytes)
        let name = Self.qualify(try message.string(FieldNumber.messageName) ?? "", in: scope)
        symbols.append(Symbol(name: name, kind: .message))
        for field in message.messages(FieldNumber.messageFields) {
            let fieldName = try ProtoWireReader.fields(of: field).string(FieldNumber.fieldName) ?? ""
            symbols.append(Symbol(name: Self.qualify(fieldName, in: name), kind: .field))
        }
        for oneof in message.messages(FieldNumber.messageOneofs) {
            let oneofName = try ProtoWireReader.fields(of: oneof).string(FieldNumber.name) ?? ""
            symbols.append(Symbol(name: Self.qualify(oneofName, in: name), kind: .oneof))
        }
        for nested in message.messages(FieldNumber.messageNested) { try addMessage(nested, scope: name) }
        for enumeration in message.messages(FieldNumber.messageEnums) { try addEnum(enumeration, scope: name) }
        for field in message.messages(FieldNumber.messageExtensions) { try addExtension(field, scope: name) }
    }

    /// Enum values are scoped like the enum itself (C++ scoping), not inside it.
    private mutating func addEnum(_ bytes: ArraySlice<UInt8>, scope: String) throws(ProtoWireReader.Malformed) {
        let enumeration = try ProtoWireReader.fields(of: bytes)
        let name = Self.qualify(try enumeration.string(FieldNumber.name) ?? "", in: scope)
        symbols.append(Symbol(name: name, kind: .enumeration))
        for value in enumeration.messages(FieldNumber.enumValues) {
            let valueName = try ProtoWireReader.fields(of: value).string(FieldNumber.name) ?? ""
            symbols.append(Symbol(name: Self.qualify(valueName, in: scope), kind: .enumValue))
        }
    }

    private mutating func addService(_ bytes: ArraySlice<UInt8>, scope: String) throws(ProtoWireReader.Malformed) {
        let service = try ProtoWireReader.fields(of: bytes)
        let name = Self.qualify(try service.string(FieldNumber.name) ?? "", in: scope)
        symbols.append(Symbol(name: name, kind: .service))
        for method in service.messages(FieldNumber.serviceMethods) {
            let methodName = try ProtoWireReader.fields(of: method).string(FieldNumber.name) ?? ""
            symbols.append(Symbol(name: Self.qualify(methodName, in: name), kind: .method))
        }
    }

    private mutating func addExtension(_ bytes: ArraySlice<UInt8>, scope: String) throws(ProtoWireReader.Malformed) {
        let field = try ProtoWireReader.fields(of: bytes)
        let name = try field.string(FieldNumber.fieldName) ?? ""
        symbols.append(Symbol(name: Self.qualify(name, in: scope), kind: .extension))
        var extendee = try field.string(FieldNumber.fieldExtendee) ?? ""
        if extendee.hasPrefix(".") { extendee.removeFirst() }
        // int32 fields are encoded as sign-extended 64-bit varints; truncation restores them.
        let number = Int32(truncatingIfNeeded: field.varint(FieldNumber.fieldNumber) ?? 0)
        extensions.append(Extension(extendee: extendee, number: number))
    }

    private static func qualify(_ name: String, in scope: String) -> String {
        scope.isEmpty ? name : "\(scope).\(name)"
    }
}
