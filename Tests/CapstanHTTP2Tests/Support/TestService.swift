import CapstanRPC
import CapstanWire

/// A test message whose encoding is its UTF-8 text; other bytes fail to decode.
struct Text: WireMessage, ExpressibleByStringLiteral {
    static let protoMessageName = "capstan.test.Text"
    var value: String

    init() { value = "" }
    init(_ value: String) { self.value = value }
    init(stringLiteral value: String) { self.value = value }

    init(serializedBytes bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard let value = String(validating: bytes, as: UTF8.self) else {
            throw WireError(.malformed, "capstan.test.Text is not valid UTF-8")
        }
        self.value = value
    }

    func serializedBytes() -> [UInt8] { Array(value.utf8) }
}

/// A test message carrying arbitrary bytes.
struct Blob: WireMessage {
    static let protoMessageName = "capstan.test.Blob"
    var bytes: [UInt8]

    init() { bytes = [] }
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    /// `count` bytes of a repeating 251-byte pattern (cheap to build, even in debug builds).
    init(count: Int) {
        let pattern = (0..<251).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count { bytes.append(contentsOf: pattern.prefix(count - bytes.count)) }
        self.bytes = bytes
    }

    init(serializedBytes bytes: UnsafeRawBufferPointer) throws(WireError) {
        self.bytes = Array(bytes)
    }

    func serializedBytes() -> [UInt8] { bytes }
}

/// A small service with one method of each kind.
enum Echo {
    static let service = "capstan.test.Echo"
    /// Unary: answers "echo: <text>".
    static let get = MethodDescriptor<Text, Text>(service: service, method: "Get", kind: .unary)
    /// Server streaming: the request is a count n; answers "0" … "n-1".
    static let expand = MethodDescriptor<Text, Text>(service: service, method: "Expand", kind: .serverStreaming)
    /// Client streaming: answers the requests joined with ",".
    static let collect = MethodDescriptor<Text, Text>(service: service, method: "Collect", kind: .clientStreaming)
    /// Bidirectional: answers each request with "echo: <text>".
    static let chat = MethodDescriptor<Text, Text>(service: service, method: "Chat", kind: .bidirectional)
    /// Unary on bytes: answers the request bytes.
    static let blob = MethodDescriptor<Blob, Blob>(service: service, method: "Blob", kind: .unary)
    /// Server streaming: the request is "count:size"; answers `count` blobs of `size` bytes.
    static let blobs = MethodDescriptor<Text, Blob>(service: service, method: "Blobs", kind: .serverStreaming)

    static func register(in router: inout RPCRouter) {
        router.unary(get) { request, _ in Text("echo: \(request.value)") }
        router.serverStreaming(expand) { request, responses, _ in
            let count = Int(request.value) ?? 0
            for index in 0..<count { try await responses.write(Text("\(index)")) }
        }
        router.clientStreaming(collect) { requests, _ in
            var parts: [String] = []
            for try await request in requests { parts.append(request.value) }
            return Text(parts.joined(separator: ","))
        }
        router.bidirectional(chat) { requests, responses, _ in
            for try await request in requests { try await responses.write(Text("echo: \(request.value)")) }
        }
        router.unary(blob) { request, _ in request }
        router.serverStreaming(blobs) { request, responses, _ in
            // "count:size"
            let parts = request.value.split(separator: ":").compactMap { Int($0) }
            guard parts.count == 2 else { throw RPCError(code: .invalidArgument, message: "want count:size") }
            for _ in 0..<parts[0] { try await responses.write(Blob(count: parts[1])) }
        }
    }
}
