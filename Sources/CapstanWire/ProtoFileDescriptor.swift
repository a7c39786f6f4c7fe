internal import CapstanAPI

/// One `.proto` file as server reflection serves it: its serialized `FileDescriptorProto`
/// (without source info), its dependencies, and the fully qualified symbols it defines.
public struct ProtoFileDescriptor: Sendable, Hashable {
    /// Path as imported, e.g. `capstan/v1/pod.proto`.
    public let name: String
    public let package: String
    public let dependencies: [String]
    /// Messages, enums, services and methods (`capstan.v1.Pods.Create`) defined in the file.
    public let symbols: [String]
    /// The serialized `google.protobuf.FileDescriptorProto`.
    public let serialized: [UInt8]

    /// Generated code passes the descriptor as base64 text, which compiles far faster than a
    /// large array literal.
    public init(name: String, package: String, dependencies: [String], symbols: [String], base64: String) {
        self.name = name
        self.package = package
        self.dependencies = dependencies
        self.symbols = symbols
        guard let bytes = Base64.decode(base64) else {
            preconditionFailure("generated descriptor of \(name) is not base64; run `make proto`")
        }
        self.serialized = bytes
    }
}
