@testable import CapstanHTTP2
import CapstanRPC
import Testing

@Suite("gRPC response headers and trailers")
struct GRPCResponseHeadersTests {
    private static func field(_ name: String, _ value: String) -> HeaderField {
        HeaderField(name: name, value: value)
    }

    private static func sampleMetadata() throws -> Metadata {
        var metadata = Metadata()
        try metadata.add("x-served-by", "node-1")
        try metadata.add("cost-bin", binary: [1, 2, 3, 4])
        return metadata
    }

    @Test func headersAre200GRPCAndMetadata() throws {
        #expect(GRPCResponseHeaders.headers(metadata: try Self.sampleMetadata()) == [
            Self.field(":status", "200"),
            Self.field("content-type", "application/grpc"),
            Self.field("x-served-by", "node-1"),
            Self.field("cost-bin", "AQIDBA"),
        ])
    }

    @Test func okTrailersCarryOnlyTheStatus() {
        #expect(GRPCResponseHeaders.trailers(status: .ok, details: nil, metadata: Metadata()) == [
            Self.field("grpc-status", "0")
        ])
    }

    @Test func errorTrailersCarryEncodedMessageDetailsAndMetadata() throws {
        let status = RPCStatus(code: .notFound, message: "pod «web» not found: 100%")
        let trailers = GRPCResponseHeaders.trailers(status: status, details: [0xFF, 0x00], metadata: try Self.sampleMetadata())
        #expect(trailers == [
            Self.field("grpc-status", "5"),
            Self.field("grpc-message", "pod %C2%ABweb%C2%BB not found: 100%25"),
            Self.field("grpc-status-details-bin", "/wA"),
            Self.field("x-served-by", "node-1"),
            Self.field("cost-bin", "AQIDBA"),
        ])
        let parsed = GRPCResponseHeaders.parseTrailers(trailers)
        #expect(parsed == .status(status, details: [0xFF, 0x00], trailers: try Self.sampleMetadata()))
    }

    @Test func trailersOnlyIsStatus200ContentTypeAndTrailers() throws {
        let status = RPCStatus(code: .unimplemented, message: "no such method")
        let fields = GRPCResponseHeaders.trailersOnly(status: status, details: nil, metadata: Metadata())
        #expect(fields == [
            Self.field(":status", "200"),
            Self.field("content-type", "application/grpc"),
            Self.field("grpc-status", "12"),
            Self.field("grpc-message", "no such method"),
        ])
        #expect(GRPCResponseHeaders.parseHeaders(fields) == .status(status, details: nil, trailers: Metadata()))
    }

    @Test func clientReadsResponseHeadersAsMetadata() throws {
        let fields = GRPCResponseHeaders.headers(metadata: try Self.sampleMetadata())
        #expect(GRPCResponseHeaders.parseHeaders(fields) == .headers(try Self.sampleMetadata()))
    }

    @Test(arguments: [
        (400, RPCCode.internal), (401, .unauthenticated), (403, .permissionDenied), (404, .unimplemented),
        (429, .unavailable), (431, .internal), (502, .unavailable), (503, .unavailable), (504, .unavailable),
        (500, .unknown), (302, .unknown), (415, .unknown), (100, .unknown),
    ])
    func nonOKHTTPStatusMapsToAGRPCCode(httpStatus: Int, code: RPCCode) throws {
        let part = GRPCResponseHeaders.parseHeaders([
            Self.field(":status", String(httpStatus)), Self.field("content-type", "text/html"),
        ])
        guard case .status(let status, let details, let trailers) = part else {
            Issue.record("expected a status, got \(part)")
            return
        }
        #expect(status.code == code)
        #expect(status.message.contains(String(httpStatus)))
        #expect(details == nil && trailers.isEmpty)
    }

    @Test func grpcStatusWinsOverTheHTTPStatus() {
        let part = GRPCResponseHeaders.parseHeaders([
            Self.field(":status", "503"), Self.field("grpc-status", "8"), Self.field("grpc-message", "slow down"),
        ])
        #expect(part == .status(RPCStatus(code: .resourceExhausted, message: "slow down"), details: nil, trailers: Metadata()))
    }

    @Test(arguments: [nil, "text/html", "application/json", "application/grpcx"] as [String?])
    func wrongContentTypeIsUnknown(contentType: String?) {
        var fields = [Self.field(":status", "200")]
        if let contentType { fields.append(Self.field("content-type", contentType)) }
        guard case .status(let status, _, _) = GRPCResponseHeaders.parseHeaders(fields) else {
            Issue.record("expected a status")
            return
        }
        #expect(status.code == .unknown)
        #expect(status.message.contains("content-type"))
    }

    @Test(arguments: [nil, "", "abc", "2000", "20"] as [String?])
    func missingOrMalformedHTTPStatusIsInternal(value: String?) {
        var fields = [Self.field("content-type", "application/grpc")]
        if let value { fields.insert(Self.field(":status", value), at: 0) }
        guard case .status(let status, _, _) = GRPCResponseHeaders.parseHeaders(fields) else {
            Issue.record("expected a status")
            return
        }
        #expect(status.code == .internal)
    }

    @Test func malformedResponseMetadataIsInternal() {
        let part = GRPCResponseHeaders.parseHeaders([
            Self.field(":status", "200"), Self.field("content-type", "application/grpc"), Self.field("x-bin", "!"),
        ])
        guard case .status(let status, _, _) = part else {
            Issue.record("expected a status, got \(part)")
            return
        }
        #expect(status.code == .internal)
    }

    @Test(arguments: [
        ("0", RPCCode.ok), ("5", .notFound), ("16", .unauthenticated), ("17", .unknown), ("999", .unknown),
    ])
    func trailersStatusValues(value: String, code: RPCCode) {
        let part = GRPCResponseHeaders.parseTrailers([Self.field("grpc-status", value)])
        #expect(part == .status(RPCStatus(code: code), details: nil, trailers: Metadata()))
    }

    @Test(arguments: [nil, "", "abc", "-1", "+1", "1.0", " 1", "99999999999999999999"] as [String?])
    func missingOrMalformedGRPCStatusIsInternal(value: String?) {
        var fields = [Self.field("x-a", "1")]
        if let value { fields.append(Self.field("grpc-status", value)) }
        guard case .status(let status, let details, _) = GRPCResponseHeaders.parseTrailers(fields) else {
            Issue.record("expected a status")
            return
        }
        #expect(status.code == .internal)
        #expect(status.message.contains("grpc-status"))
        #expect(details == nil)
    }

    @Test func trailersDecodeMessagePaddedDetailsAndMetadata() throws {
        let part = GRPCResponseHeaders.parseTrailers([
            Self.field("grpc-status", "3"),
            Self.field("grpc-message", "bad %E2%9C%97 value%"),
            Self.field("grpc-status-details-bin", "AQI="),
            Self.field("x-a", "1"),
        ])
        var trailers = Metadata()
        try trailers.add("x-a", "1")
        #expect(part == .status(RPCStatus(code: .invalidArgument, message: "bad ✗ value%"), details: [1, 2], trailers: trailers))
    }

    @Test func malformedDetailsAreInternal() {
        let part = GRPCResponseHeaders.parseTrailers([
            Self.field("grpc-status", "3"), Self.field("grpc-status-details-bin", "A"),
        ])
        guard case .status(let status, let details, _) = part else {
            Issue.record("expected a status")
            return
        }
        #expect(status.code == .internal)
        #expect(details == nil)
    }
}
