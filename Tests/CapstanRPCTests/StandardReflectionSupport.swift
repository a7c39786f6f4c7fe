import CapstanAPI
import CapstanRPC
import CapstanWire

typealias ReflectionRequest = Grpc_Reflection_V1_ServerReflectionRequest
typealias ReflectionResponse = Grpc_Reflection_V1_ServerReflectionResponse

/// The two packages reflection is served in.
enum ReflectionVersion: String, CaseIterable, Sendable {
    case v1, v1alpha
}

/// One `ServerReflectionInfo` stream in either package, spoken in `grpc.reflection.v1` messages
/// so one test body covers both. For v1alpha the messages are converted through their encoding:
/// the two packages are wire-identical by design, and converting this way keeps the tests
/// independent of the service's own field-by-field conversion.
struct ReflectionStream: Sendable {
    private enum Call: Sendable {
        case v1(BidirectionalCall<ReflectionRequest, ReflectionResponse>)
        case v1alpha(BidirectionalCall<Grpc_Reflection_V1alpha_ServerReflectionRequest, Grpc_Reflection_V1alpha_ServerReflectionResponse>)
    }

    private let call: Call

    init(_ version: ReflectionVersion, rpc: RPCClient) async throws {
        switch version {
        case .v1: call = .v1(try await Grpc_Reflection_V1_ServerReflection.Client(rpc).serverReflectionInfo())
        case .v1alpha: call = .v1alpha(try await Grpc_Reflection_V1alpha_ServerReflection.Client(rpc).serverReflectionInfo())
        }
    }

    func send(_ request: ReflectionRequest) async throws {
        switch call {
        case .v1(let call): try await call.send(request)
        case .v1alpha(let call): try await call.send(.init(serializedBytes: request.serializedBytes()))
        }
    }

    /// The next response; `nil` when the server ended the stream.
    func receive() async throws -> ReflectionResponse? {
        switch call {
        case .v1(let call):
            var responses = call.responses.makeAsyncIterator()
            return try await responses.next()
        case .v1alpha(let call):
            var responses = call.responses.makeAsyncIterator()
            return try await responses.next().map { try ReflectionResponse(serializedBytes: $0.serializedBytes()) }
        }
    }

    /// Sends `request` and waits for its response.
    func ask(_ request: ReflectionRequest) async throws -> ReflectionResponse {
        try await send(request)
        guard let response = try await receive() else {
            throw RPCError(code: .internal, message: "the reflection stream ended before answering")
        }
        return response
    }

    func closeSend() {
        switch call {
        case .v1(let call): call.closeSend()
        case .v1alpha(let call): call.closeSend()
        }
    }
}

extension ReflectionRequest {
    static func make(_ query: MessageRequest, host: String = "") -> Self {
        var request = Self()
        request.host = host
        request.messageRequest = query
        return request
    }
}

/// Writes the protobuf encoding field by field: enough to build `FileDescriptorProto`s by hand
/// for what Capstan's own schemas lack (extensions, nested scopes, malformed bytes).
struct ProtoWriter {
    private(set) var bytes: [UInt8] = []

    static func message(_ build: (inout ProtoWriter) -> Void) -> [UInt8] {
        var writer = ProtoWriter()
        build(&writer)
        return writer.bytes
    }

    mutating func varint(_ number: Int, _ value: UInt64) {
        key(number, wireType: 0)
        append(varint: value)
    }

    mutating func string(_ number: Int, _ value: String) {
        bytes(number, Array(value.utf8))
    }

    mutating func bytes(_ number: Int, _ value: [UInt8]) {
        key(number, wireType: 2)
        append(varint: UInt64(value.count))
        bytes += value
    }

    mutating func message(_ number: Int, _ build: (inout ProtoWriter) -> Void) {
        bytes(number, Self.message(build))
    }

    private mutating func key(_ number: Int, wireType: UInt64) {
        append(varint: UInt64(number) << 3 | wireType)
    }

    private mutating func append(varint value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }
}

extension ProtoFileDescriptor {
    /// A descriptor built from bytes, as generated code would embed it.
    init(name: String, package: String, dependencies: [String] = [], symbols: [String] = [], serialized: [UInt8]) {
        self.init(name: name, package: package, dependencies: dependencies, symbols: symbols, base64: Base64.encode(serialized))
    }
}

/// Two hand-built proto2 files with extensions, in the shape protoc emits
/// (`FileDescriptorProto` field numbers from `google/protobuf/descriptor.proto`):
///
/// ```proto
/// // test/base.proto
/// package test;
/// message Base { optional string id = 1; extensions 100 to 199;
///                enum Kind { KIND_A = 0; } }
/// extend Base { optional string note = 100; }
///
/// // test/more.proto
/// package test.more;
/// import "test/base.proto";
/// message Holder { oneof choice { string a = 1; }
///                  extend test.Base { optional int32 count = 101; } }
/// ```
enum ExtensionFixtures {
    static let base: [UInt8] = ProtoWriter.message { file in
        file.string(1, "test/base.proto")
        file.string(2, "test")
        file.message(4) { message in
            message.string(1, "Base")
            message.message(2) { field in
                field.string(1, "id")
                field.varint(3, 1)
            }
            message.message(4) { enumeration in
                enumeration.string(1, "Kind")
                enumeration.message(2) { value in value.string(1, "KIND_A") }
            }
            message.message(5) { range in
                range.varint(1, 100)
                range.varint(2, 200)
            }
        }
        file.message(7) { ext in
            ext.string(1, "note")
            ext.string(2, ".test.Base")
            ext.varint(3, 100)
        }
        file.string(12, "proto2")
    }

    static let more: [UInt8] = ProtoWriter.message { file in
        file.string(1, "test/more.proto")
        file.string(2, "test.more")
        file.string(3, "test/base.proto")
        file.message(4) { message in
            message.string(1, "Holder")
            message.message(2) { field in
                field.string(1, "a")
                field.varint(3, 1)
                field.varint(9, 0)  // oneof_index
            }
            message.message(6) { ext in
                ext.string(1, "count")
                ext.string(2, ".test.Base")
                ext.varint(3, 101)
            }
            message.message(8) { oneof in oneof.string(1, "choice") }
        }
        file.string(12, "proto2")
    }

    static let descriptors = [
        ProtoFileDescriptor(name: "test/base.proto", package: "test", symbols: ["test.Base", "test.Base.Kind"], serialized: base),
        ProtoFileDescriptor(
            name: "test/more.proto", package: "test.more", dependencies: ["test/base.proto"],
            symbols: ["test.more.Holder"], serialized: more),
    ]
}
