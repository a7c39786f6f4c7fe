/// Every message and enum of a request, by fully qualified proto name (with the leading dot).
struct TypeIndex {
    struct Entry {
        enum Kind { case message(MessageDescriptor), enumeration(EnumDescriptor) }
        var kind: Kind
        /// `capstan.v1.Probe.Http`.
        var protoName: String
        /// Swift type as written from anywhere: `Probe.Http`, `Grpc_Health_V1_HealthCheckRequest`.
        var swiftName: String
        /// protoc-c's struct/enum type: `Capstan__V1__Probe__Http`.
        var cType: String
        /// protoc-c's function prefix: `capstan__v1__probe__http`.
        var cPrefix: String
        var file: String
        var package: String
        /// The nesting path within the package (`["Probe", "Http"]`).
        var path: [String]
    }

    private(set) var entries: [String: Entry] = [:]
    let options: GeneratorOptions

    init(files: [FileDescriptor], options: GeneratorOptions) {
        self.options = options
        for file in files {
            let prefix = options.swiftPrefix(forPackage: file.package)
            for message in file.messages {
                addMessage(message, file: file, path: [], swiftParent: nil, prefix: prefix)
            }
            for e in file.enums {
                addEnum(e, file: file, path: [], swiftParent: nil, prefix: prefix)
            }
        }
    }

    subscript(_ protoName: String) -> Entry {
        get throws {
            guard let entry = entries[protoName] else { throw CodegenError("unknown type \(protoName)") }
            return entry
        }
    }

    /// The message descriptor of a message type.
    func message(_ protoName: String) throws -> MessageDescriptor {
        guard case .message(let m) = try self[protoName].kind else { throw CodegenError("\(protoName) is not a message") }
        return m
    }

    /// Whether a value of message `from` can contain a value of message `target` inline: through
    /// singular or oneof message fields (arrays and maps are already indirect).
    func reaches(_ from: String, _ target: String) throws -> Bool {
        var seen = Set<String>()
        var stack = [from]
        while let name = stack.popLast() {
            if name == target { return true }
            guard seen.insert(name).inserted else { continue }
            for f in try message(name).fields where f.type == .message && f.label != .repeated {
                stack.append(f.typeName)
            }
        }
        return false
    }

    static func swiftTypeName(_ name: String, parent: String?, prefix: String) -> String {
        guard let parent else { return prefix + name }
        let nested = Names.reservedNestedTypeNames.contains(name) ? name + "_" : name
        return parent + "." + nested
    }

    private mutating func addMessage(
        _ message: MessageDescriptor, file: FileDescriptor, path: [String], swiftParent: String?, prefix: String
    ) {
        let path = path + [message.name]
        let swiftName = Self.swiftTypeName(message.name, parent: swiftParent, prefix: prefix)
        let protoName = "." + ([file.package].filter { !$0.isEmpty } + path).joined(separator: ".")
        entries[protoName] = Entry(
            kind: .message(message), protoName: String(protoName.dropFirst()), swiftName: swiftName,
            cType: Names.cTypeName(package: file.package, path: path),
            cPrefix: Names.cFunctionPrefix(package: file.package, path: path),
            file: file.name, package: file.package, path: path)
        for nested in message.nestedTypes {
            addMessage(nested, file: file, path: path, swiftParent: swiftName, prefix: prefix)
        }
        for e in message.enums {
            addEnum(e, file: file, path: path, swiftParent: swiftName, prefix: prefix)
        }
    }

    private mutating func addEnum(
        _ e: EnumDescriptor, file: FileDescriptor, path: [String], swiftParent: String?, prefix: String
    ) {
        let path = path + [e.name]
        let protoName = "." + ([file.package].filter { !$0.isEmpty } + path).joined(separator: ".")
        entries[protoName] = Entry(
            kind: .enumeration(e), protoName: String(protoName.dropFirst()),
            swiftName: Self.swiftTypeName(e.name, parent: swiftParent, prefix: prefix),
            cType: Names.cTypeName(package: file.package, path: path),
            cPrefix: Names.cFunctionPrefix(package: file.package, path: path),
            file: file.name, package: file.package, path: path)
    }
}

/// The generator's parameters, from `--capstan_opt=key=value,key=value`.
public struct GeneratorOptions: Sendable {
    /// Packages whose Swift types carry no prefix (`capstan.v1` → `Pod`); others get
    /// swift-protobuf's style (`grpc.health.v1` → `Grpc_Health_V1_HealthCheckRequest`).
    public var barePackages: Set<String> = []
    /// Target folders (relative to the output directory) for each kind of output.
    public var typesModule = "CapstanAPI"
    public var wireModule = "CapstanWire"
    public var rpcModule = "CapstanRPC"
    /// The C module that holds protoc-c's output.
    public var cModule = "CCapstanProto"
    /// Name of the generated enum listing every file descriptor of this run.
    public var descriptorIndex = "CapstanFileDescriptors"
    /// Whether service code is generated.
    public var services = true
    /// When set, only test support is generated: a `random` constructor per message, into this
    /// folder, plus an index of every message type.
    public var randomModule: String?

    public init() {}

    public init(parameter: String) throws {
        for item in parameter.split(separator: ",") where !item.isEmpty {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw CodegenError("option \"\(item)\" is not key=value") }
            switch parts[0] {
            case "bare_package": barePackages.insert(parts[1])
            case "types_module": typesModule = parts[1]
            case "wire_module": wireModule = parts[1]
            case "rpc_module": rpcModule = parts[1]
            case "c_module": cModule = parts[1]
            case "descriptor_index": descriptorIndex = parts[1]
            case "services": services = parts[1] == "true"
            case "random_module": randomModule = parts[1]
            default: throw CodegenError("unknown option \"\(parts[0])\"")
            }
        }
    }

    func swiftPrefix(forPackage package: String) -> String {
        if barePackages.contains(package) || package.isEmpty { return "" }
        return package.split(separator: ".").map { Names.upperCamel(String($0)) }.joined(separator: "_") + "_"
    }
}
