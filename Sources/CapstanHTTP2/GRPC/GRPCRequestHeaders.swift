import CapstanRPC

/// A gRPC request's header block: validated on the server, built on the client.
enum GRPCRequestHeaders {
    /// The only `grpc-encoding` supported.
    static let identity = "identity"

    /// Validates a request's header block, in this order: `:method` (400 when missing, 405 when
    /// not POST), `:path` (400 when missing or not starting with `/`), `content-type` (415 when
    /// missing or not gRPC), `grpc-encoding` (UNIMPLEMENTED unless identity, answered with
    /// `grpc-accept-encoding: identity`), `grpc-timeout` (INTERNAL when malformed), metadata
    /// (INTERNAL when a `-bin` value is not base64). `te` is not required.
    static func parse(_ fields: [HeaderField]) -> Result<GRPCRequestHead, GRPCRequestRejection> {
        var parser = GRPCRequestHeaderParser()
        for field in fields { parser.add(name: field.name, value: field.value) }
        return parser.finish()
    }

    /// A client's request header block: pseudo-headers first, then `grpc-timeout` (if any), the
    /// other call-definition headers and the metadata.
    static func make(
        path: String, authority: String, scheme: String, timeout: Duration?, metadata: Metadata, userAgent: String
    ) -> [HeaderField] {
        var fields = [
            HeaderField(name: ":method", value: "POST"),
            HeaderField(name: ":scheme", value: scheme),
            HeaderField(name: ":path", value: path),
            HeaderField(name: ":authority", value: authority),
        ]
        if let timeout {
            fields.append(HeaderField(name: "grpc-timeout", value: GRPCTimeout.encode(timeout)))
        }
        fields += [
            HeaderField(name: "content-type", value: GRPCContentType.value),
            HeaderField(name: "te", value: "trailers"),
            HeaderField(name: "grpc-accept-encoding", value: identity),
            HeaderField(name: "user-agent", value: userAgent),
        ]
        fields += GRPCMetadataHeaders.encode(metadata)
        return fields
    }
}

/// The request header names a gRPC server reads, recognised by length first so that a field
/// costs at most two string comparisons.
enum RequestHeaderName {
    case method, scheme, path, authority, contentType, te, encoding, acceptEncoding, timeout, userAgent

    init?(_ name: String) {
        switch name.utf8.count {
        case 2 where name == "te": self = .te
        case 5 where name == ":path": self = .path
        case 7 where name == ":method": self = .method
        case 7 where name == ":scheme": self = .scheme
        case 10 where name == ":authority": self = .authority
        case 10 where name == "user-agent": self = .userAgent
        case 12 where name == "content-type": self = .contentType
        case 12 where name == "grpc-timeout": self = .timeout
        case 13 where name == "grpc-encoding": self = .encoding
        case 20 where name == "grpc-accept-encoding": self = .acceptEncoding
        default: return nil
        }
    }
}

/// `GRPCRequestHeaders.parse` one field at a time, as the fields arrive (a server feeds it from
/// nghttp2's header callback, so a request's header block is never collected into an array).
/// Keeps the first of each header the call definition uses and decodes metadata as it goes;
/// `finish` runs the checks in the documented order.
struct GRPCRequestHeaderParser {
    private var method: String?
    private var path: String?
    private var authority: String?
    private var contentType: String?
    private var encoding: String?
    private var timeoutText: String?
    private var userAgent: String?
    private var metadata = Metadata()
    /// The first metadata field that could not be decoded.
    private var metadataError: RPCError?

    init() {}

    mutating func add(name: String, value: String) {
        switch RequestHeaderName(name) {
        case .method: if method == nil { method = value }
        case .path: if path == nil { path = value }
        case .authority: if authority == nil { authority = value }
        case .contentType: if contentType == nil { contentType = value }
        case .encoding: if encoding == nil { encoding = value }
        case .timeout: if timeoutText == nil { timeoutText = value }
        case .userAgent: if userAgent == nil { userAgent = value }
        case .scheme, .te, .acceptEncoding: break
        case nil:
            guard metadataError == nil else { return }
            do {
                try GRPCMetadataHeaders.decode(name: name, value: value, into: &metadata)
            } catch {
                metadataError = error
            }
        }
    }

    /// The outcome; the parser is left empty, ready for the next header block (`mutating`, so
    /// the fields move out instead of being copied).
    mutating func finish() -> Result<GRPCRequestHead, GRPCRequestRejection> {
        defer { self = GRPCRequestHeaderParser() }
        guard let method else {
            return .failure(.http(status: 400, message: "missing :method"))
        }
        guard method == "POST" else {
            return .failure(.http(status: 405, message: "method \(method) not allowed: gRPC requests are POST"))
        }
        guard let path, path.utf8.first == UInt8(ascii: "/") else {
            return .failure(.http(status: 400, message: "missing or invalid :path"))
        }
        guard let contentType, GRPCContentType.isGRPC(contentType) else {
            let shown = contentType.map { "'\($0)'" } ?? "missing"
            return .failure(.http(status: 415, message: "content-type \(shown) is not application/grpc"))
        }
        let identity = GRPCRequestHeaders.identity
        if let encoding, encoding != identity, encoding.lowercased() != identity {
            let status = RPCStatus(
                code: .unimplemented,
                message: "grpc-encoding '\(encoding)' is not supported; only identity is")
            return .failure(.grpc(status, acceptEncoding: identity))
        }
        var timeout: Duration?
        if let timeoutText {
            guard let parsed = GRPCTimeout.parse(timeoutText) else {
                return .failure(.grpc(RPCStatus(code: .internal, message: "malformed grpc-timeout '\(timeoutText)'"), acceptEncoding: nil))
            }
            timeout = parsed
        }
        if let metadataError {
            return .failure(.grpc(metadataError.status, acceptEncoding: nil))
        }
        return .success(GRPCRequestHead(
            path: path, authority: authority, timeout: timeout, metadata: metadata, userAgent: userAgent))
    }
}
