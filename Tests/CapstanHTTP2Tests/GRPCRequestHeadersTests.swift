@testable import CapstanHTTP2
import CapstanRPC
import Testing

@Suite("gRPC request headers")
struct GRPCRequestHeadersTests {
    /// A valid request as a Python or Go client sends it.
    static let valid: [HeaderField] = [
        HeaderField(name: ":method", value: "POST"),
        HeaderField(name: ":scheme", value: "http"),
        HeaderField(name: ":path", value: "/capstan.v1.Pods/Get"),
        HeaderField(name: ":authority", value: "127.0.0.1:7443"),
        HeaderField(name: "grpc-timeout", value: "5S"),
        HeaderField(name: "content-type", value: "application/grpc+proto"),
        HeaderField(name: "te", value: "trailers"),
        HeaderField(name: "grpc-accept-encoding", value: "identity,deflate,gzip"),
        HeaderField(name: "user-agent", value: "grpc-python/1.66.0"),
        HeaderField(name: "x-request-id", value: "abc 123"),
        HeaderField(name: "trace-bin", value: "AQID"),
    ]

    /// `valid` with `name` replaced by `value` (removed when nil), or added when absent.
    static func replacing(_ name: String, with value: String?) -> [HeaderField] {
        var fields = valid.filter { $0.name != name }
        if let value {
            let index = valid.firstIndex { $0.name == name } ?? fields.count
            fields.insert(HeaderField(name: name, value: value), at: index)
        }
        return fields
    }

    private static func rejection(_ fields: [HeaderField]) -> GRPCRequestRejection? {
        if case .failure(let rejection) = GRPCRequestHeaders.parse(fields) { return rejection }
        return nil
    }

    @Test func acceptsAValidRequest() throws {
        let head = try GRPCRequestHeaders.parse(Self.valid).get()
        #expect(head.path == "/capstan.v1.Pods/Get")
        #expect(head.authority == "127.0.0.1:7443")
        #expect(head.timeout == .seconds(5))
        #expect(head.userAgent == "grpc-python/1.66.0")
        var expected = Metadata()
        try expected.add("x-request-id", "abc 123")
        try expected.add("trace-bin", binary: [1, 2, 3])
        #expect(head.metadata == expected)
    }

    @Test(arguments: [
        (":method", nil, 400),
        (":method", "GET", 405),
        (":method", "post", 405),
        (":path", nil, 400),
        (":path", "", 400),
        (":path", "capstan.v1.Pods/Get", 400),
        // A gRPC path is ASCII.
        (":path", "/capstan.v1.Pods/Gét", 400),
        (":path", "/" + String(repeating: "d\u{301}\u{316}", count: 1_000), 400),
        ("content-type", nil, 415),
        ("content-type", "application/json", 415),
        ("content-type", "text/html; charset=utf-8", 415),
        ("content-type", "application/grpcfoo", 415),
        ("content-type", "application/grp", 415),
    ] as [(String, String?, Int)])
    func rejectsNonGRPCRequestsWithAnHTTPStatus(name: String, value: String?, status: Int) throws {
        let rejection = try #require(Self.rejection(Self.replacing(name, with: value)))
        guard case .http(let httpStatus, let message) = rejection else {
            Issue.record("expected an HTTP rejection, got \(rejection)")
            return
        }
        #expect(httpStatus == status)
        #expect(!message.isEmpty)
    }

    @Test(arguments: [
        ("grpc-encoding", "gzip", RPCCode.unimplemented, "identity" as String?),
        ("grpc-encoding", "snappy", .unimplemented, "identity"),
        ("grpc-timeout", "5s", .internal, nil),
        ("grpc-timeout", "123456789S", .internal, nil),
        ("grpc-timeout", "", .internal, nil),
        ("grpc-timeout", "-1S", .internal, nil),
        ("trace-bin", "not base64!", .internal, nil),
        ("trace-bin", "A", .internal, nil),
        // Messages are protobuf: another format is refused, not misread as protobuf.
        ("content-type", "application/grpc+json", .unimplemented, nil),
        ("content-type", "Application/GRPC+JSON;charset=utf-8", .unimplemented, nil),
        ("content-type", "application/grpc+protobuf", .unimplemented, nil),
        ("content-type", "application/grpc+", .unimplemented, nil),
    ])
    func rejectsUnservableGRPCRequestsWithAStatus(
        name: String, value: String, code: RPCCode, acceptEncoding: String?
    ) throws {
        let rejection = try #require(Self.rejection(Self.replacing(name, with: value)))
        guard case .grpc(let status, let accept) = rejection else {
            Issue.record("expected a gRPC rejection, got \(rejection)")
            return
        }
        #expect(status.code == code)
        #expect(status.message.contains(name))
        #expect(accept == acceptEncoding)
    }

    @Test func methodIsCheckedBeforeContentType() {
        var fields = Self.replacing(":method", with: "GET")
        fields.removeAll { $0.name == "content-type" }
        #expect(Self.rejection(fields) == .http(status: 405, message: "method GET not allowed: gRPC requests are POST"))
    }

    @Test(arguments: [
        ("content-type", "application/grpc" as String?),
        ("content-type", "application/grpc;charset=utf-8"),
        ("content-type", "Application/GRPC+PROTO"),
        ("content-type", "application/grpc+proto;charset=utf-8"),
        ("grpc-encoding", "identity"),
        ("te", nil),
        (":authority", nil),
        ("grpc-timeout", nil),
        ("grpc-timeout", "0n"),
        ("user-agent", nil),
    ])
    func acceptsVariations(name: String, value: String?) throws {
        _ = try GRPCRequestHeaders.parse(Self.replacing(name, with: value)).get()
    }

    @Test func absentOptionalHeadersAreNil() throws {
        let fields = Self.valid.filter { [":authority", "grpc-timeout", "user-agent"].contains($0.name) == false }
        let head = try GRPCRequestHeaders.parse(fields).get()
        #expect(head.authority == nil)
        #expect(head.timeout == nil)
        #expect(head.userAgent == nil)
    }

    @Test func clientHeadersArePseudoHeadersFirstThenCallDefinitionThenMetadata() throws {
        var metadata = Metadata()
        try metadata.add("x-a", "1")
        try metadata.add("x-b-bin", binary: [0xFF])
        let fields = GRPCRequestHeaders.make(
            path: "/capstan.v1.Pods/List", authority: "localhost:7443", scheme: "http",
            timeout: .milliseconds(1_500), metadata: metadata, userAgent: "capstan/0.1")
        #expect(fields == [
            HeaderField(name: ":method", value: "POST"),
            HeaderField(name: ":scheme", value: "http"),
            HeaderField(name: ":path", value: "/capstan.v1.Pods/List"),
            HeaderField(name: ":authority", value: "localhost:7443"),
            HeaderField(name: "grpc-timeout", value: "1500000u"),
            HeaderField(name: "content-type", value: "application/grpc"),
            HeaderField(name: "te", value: "trailers"),
            HeaderField(name: "grpc-accept-encoding", value: "identity"),
            HeaderField(name: "user-agent", value: "capstan/0.1"),
            HeaderField(name: "x-a", value: "1"),
            HeaderField(name: "x-b-bin", value: "/w"),
        ])
        let head = try GRPCRequestHeaders.parse(fields).get()
        #expect(head.path == "/capstan.v1.Pods/List")
        #expect(head.authority == "localhost:7443")
        #expect(head.timeout == .milliseconds(1_500))
        #expect(head.metadata == metadata)
        #expect(head.userAgent == "capstan/0.1")
    }

    @Test func clientHeadersWithoutTimeoutOmitIt() {
        let fields = GRPCRequestHeaders.make(
            path: "/s/m", authority: "a", scheme: "https", timeout: nil, metadata: Metadata(), userAgent: "u")
        #expect(!fields.contains { $0.name == "grpc-timeout" })
        #expect(fields.first { $0.name == ":scheme" }?.value == "https")
    }
}
