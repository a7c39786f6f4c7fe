/// The parts of `google/protobuf/descriptor.proto` the generator reads, decoded by hand.
/// Field numbers below are descriptor.proto's.

/// A field's declared type (`FieldDescriptorProto.Type`).
public enum FieldType: Int32, Sendable {
    case double = 1, float, int64, uint64, int32, fixed64, fixed32, bool, string, group, message,
         bytes, uint32, `enum`, sfixed32, sfixed64, sint32, sint64
}

/// A field's cardinality (`FieldDescriptorProto.Label`).
public enum FieldLabel: Int32, Sendable {
    case optional = 1, required = 2, repeated = 3
}

public struct FieldDescriptor: Sendable {
    public var name = ""
    public var number: Int32 = 0
    public var label: FieldLabel = .optional
    public var type: FieldType = .int32
    /// Fully qualified with a leading dot, for message and enum fields.
    public var typeName = ""
    public var jsonName = ""
    public var oneofIndex: Int32?
    public var proto3Optional = false

    init(_ bytes: ArraySlice<UInt8>) throws {
        var r = ProtoReader(bytes)
        while let (number, wire) = try r.nextField() {
            switch number {
            case 1: name = try r.readString()
            case 3: self.number = try r.readInt32()
            case 4:
                let raw = try r.readInt32()
                guard let l = FieldLabel(rawValue: raw) else { throw CodegenError("field \(name): label \(raw)") }
                label = l
            case 5:
                let raw = try r.readInt32()
                guard let t = FieldType(rawValue: raw) else { throw CodegenError("field \(name): type \(raw)") }
                type = t
            case 6: typeName = try r.readString()
            case 9: oneofIndex = try r.readInt32()
            case 10: jsonName = try r.readString()
            case 17: proto3Optional = try r.readBool()
            default: try r.skip(wire)
            }
        }
        if jsonName.isEmpty { jsonName = Names.lowerCamel(name) }
    }
}

public struct EnumValueDescriptor: Sendable {
    public var name = ""
    public var number: Int32 = 0

    init(_ bytes: ArraySlice<UInt8>) throws {
        var r = ProtoReader(bytes)
        while let (number, wire) = try r.nextField() {
            switch number {
            case 1: name = try r.readString()
            case 2: self.number = try r.readInt32()
            default: try r.skip(wire)
            }
        }
    }
}

public struct EnumDescriptor: Sendable {
    public var name = ""
    public var values: [EnumValueDescriptor] = []

    init(_ bytes: ArraySlice<UInt8>) throws {
        var r = ProtoReader(bytes)
        while let (number, wire) = try r.nextField() {
            switch number {
            case 1: name = try r.readString()
            case 2: values.append(try EnumValueDescriptor(try r.readBytes()))
            default: try r.skip(wire)
            }
        }
    }
}

public struct MessageDescriptor: Sendable {
    public var name = ""
    public var fields: [FieldDescriptor] = []
    public var nestedTypes: [MessageDescriptor] = []
    public var enums: [EnumDescriptor] = []
    public var oneofNames: [String] = []
    public var isMapEntry = false

    init(_ bytes: ArraySlice<UInt8>) throws {
        var r = ProtoReader(bytes)
        while let (number, wire) = try r.nextField() {
            switch number {
            case 1: name = try r.readString()
            case 2: fields.append(try FieldDescriptor(try r.readBytes()))
            case 3: nestedTypes.append(try MessageDescriptor(try r.readBytes()))
            case 4: enums.append(try EnumDescriptor(try r.readBytes()))
            case 7: isMapEntry = try Self.readMapEntryOption(try r.readBytes())
            case 8:
                var o = ProtoReader(try r.readBytes())
                var oneofName = ""
                while let (n, w) = try o.nextField() {
                    if n == 1 { oneofName = try o.readString() } else { try o.skip(w) }
                }
                oneofNames.append(oneofName)
            default: try r.skip(wire)
            }
        }
    }

    /// `MessageOptions.map_entry` is field 7.
    private static func readMapEntryOption(_ bytes: ArraySlice<UInt8>) throws -> Bool {
        var r = ProtoReader(bytes)
        var result = false
        while let (number, wire) = try r.nextField() {
            if number == 7 { result = try r.readBool() } else { try r.skip(wire) }
        }
        return result
    }
}

public struct MethodDescriptor: Sendable {
    public var name = ""
    public var inputType = ""
    public var outputType = ""
    public var clientStreaming = false
    public var serverStreaming = false

    init(_ bytes: ArraySlice<UInt8>) throws {
        var r = ProtoReader(bytes)
        while let (number, wire) = try r.nextField() {
            switch number {
            case 1: name = try r.readString()
            case 2: inputType = try r.readString()
            case 3: outputType = try r.readString()
            case 5: clientStreaming = try r.readBool()
            case 6: serverStreaming = try r.readBool()
            default: try r.skip(wire)
            }
        }
    }
}

public struct ServiceDescriptor: Sendable {
    public var name = ""
    public var methods: [MethodDescriptor] = []

    init(_ bytes: ArraySlice<UInt8>) throws {
        var r = ProtoReader(bytes)
        while let (number, wire) = try r.nextField() {
            switch number {
            case 1: name = try r.readString()
            case 2: methods.append(try MethodDescriptor(try r.readBytes()))
            default: try r.skip(wire)
            }
        }
    }
}

/// One `.proto` file, with its comments and the bytes to embed for reflection.
public struct FileDescriptor: Sendable {
    public var name = ""
    public var package = ""
    public var dependencies: [String] = []
    public var messages: [MessageDescriptor] = []
    public var enums: [EnumDescriptor] = []
    public var services: [ServiceDescriptor] = []
    public var syntax = ""
    /// Leading comments by descriptor path (e.g. `[4, 0, 2, 1]` = message 0, field 1).
    public var comments: [[Int32]: String] = [:]
    /// The file's `FileDescriptorProto` without `source_code_info` (field 9): what a reflection
    /// client needs, without the bulk of spans and comments.
    public var reflectionBytes: [UInt8] = []

    public init(_ bytes: ArraySlice<UInt8>) throws {
        var r = ProtoReader(bytes)
        var stripped = ProtoWriter()
        while let (number, wire) = try r.nextField() {
            switch number {
            case 1:
                name = try r.readString()
                stripped.writeString(1, name)
            case 2:
                package = try r.readString()
                stripped.writeString(2, package)
            case 3:
                let dependency = try r.readString()
                dependencies.append(dependency)
                stripped.writeString(3, dependency)
            case 4:
                let b = try r.readBytes()
                messages.append(try MessageDescriptor(b))
                stripped.writeBytes(4, b)
            case 5:
                let b = try r.readBytes()
                enums.append(try EnumDescriptor(b))
                stripped.writeBytes(5, b)
            case 6:
                let b = try r.readBytes()
                services.append(try ServiceDescriptor(b))
                stripped.writeBytes(6, b)
            case 9:
                comments = try Self.readComments(try r.readBytes())
            case 12:
                syntax = try r.readString()
                stripped.writeString(12, syntax)
            default:
                // Options and other fields are kept verbatim for reflection.
                guard wire == .lengthDelimited else {
                    let value = try r.readVarintField(wire)
                    stripped.writeUInt64(number, value)
                    continue
                }
                stripped.writeBytes(number, try r.readBytes())
            }
        }
        reflectionBytes = stripped.bytes
    }

    private static func readComments(_ bytes: ArraySlice<UInt8>) throws -> [[Int32]: String] {
        var result: [[Int32]: String] = [:]
        var r = ProtoReader(bytes)
        while let (number, wire) = try r.nextField() {
            guard number == 1 else { try r.skip(wire); continue }
            var l = ProtoReader(try r.readBytes())
            var path: [Int32] = []
            var leading = ""
            while let (n, w) = try l.nextField() {
                switch n {
                case 1: path += try l.readInt32s(w)
                case 3: leading = try l.readString()
                default: try l.skip(w)
                }
            }
            if !leading.isEmpty { result[path] = leading }
        }
        return result
    }
}

extension ProtoReader {
    /// Reads a varint field's value; other non-length-delimited wire types are rejected because
    /// `FileDescriptorProto` has none at the top level.
    mutating func readVarintField(_ wire: WireType) throws -> UInt64 {
        guard wire == .varint else { throw CodegenError("unexpected wire type \(wire) in FileDescriptorProto") }
        return try readVarint()
    }
}

/// protoc's `CodeGeneratorRequest`.
public struct CodeGeneratorRequest: Sendable {
    public var filesToGenerate: [String] = []
    public var parameter = ""
    public var protoFiles: [FileDescriptor] = []

    public init(_ bytes: [UInt8]) throws {
        var r = ProtoReader(bytes)
        while let (number, wire) = try r.nextField() {
            switch number {
            case 1: filesToGenerate.append(try r.readString())
            case 2: parameter = try r.readString()
            case 15: protoFiles.append(try FileDescriptor(try r.readBytes()))
            default: try r.skip(wire)
            }
        }
    }
}

/// protoc's `CodeGeneratorResponse`.
public struct CodeGeneratorResponse: Sendable {
    public var error: String?
    public var files: [(name: String, content: String)] = []

    public init(error: String? = nil, files: [(name: String, content: String)] = []) {
        self.error = error
        self.files = files
    }

    public func serialized() -> [UInt8] {
        var w = ProtoWriter()
        if let error { w.writeString(1, error) }
        w.writeUInt64(2, 0)
        for file in files {
            var f = ProtoWriter()
            f.writeString(1, file.name)
            f.writeString(15, file.content)
            w.writeBytes(15, f.bytes)
        }
        return w.bytes
    }
}
