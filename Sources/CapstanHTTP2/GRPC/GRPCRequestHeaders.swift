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
/// costs at most two byte comparisons.
enum RequestHeaderName {
    case method, scheme, path, authority, contentType, te, encoding, acceptEncoding, timeout, userAgent

    init?(_ name: HeaderBytes) {
        switch name.count {
        case 2 where name.equals("te"): self = .te
        case 5 where name.equals(":path"): self = .path
        case 7 where name.equals(":method"): self = .method
        case 7 where name.equals(":scheme"): self = .scheme
        case 10 where name.equals(":authority"): self = .authority
        case 10 where name.equals("user-agent"): self = .userAgent
        case 12 where name.equals("content-type"): self = .contentType
        case 12 where name.equals("grpc-timeout"): self = .timeout
        case 13 where name.equals("grpc-encoding"): self = .encoding
        case 20 where name.equals("grpc-accept-encoding"): self = .acceptEncoding
        default: return nil
        }
    }
}

/// `GRPCRequestHeaders.parse` one field at a time, as the fields arrive (a server feeds it from
/// nghttp2's header callback, so a request's header block is never collected into an array).
/// Keeps the first of each header the call definition uses and decodes metadata as it goes;
/// `finish` runs the checks in the documented order.
///
/// Fields are read as bytes in place: what is only checked (`:method` is POST, `content-type` is
/// gRPC, `grpc-encoding` is identity) becomes a `String` only when the check fails (for the
/// error message), and `:path` and metadata keys come from a cache of recent texts, so a typical
/// request's header block costs no allocation besides its metadata.
struct GRPCRequestHeaderParser {
    /// What a header that is checked rather than kept said.
    private enum Checked {
        case absent
        case valid
        /// Invalid, with the text for the error message.
        case invalid(String)
    }

    private enum Timeout {
        case absent
        case valid(Duration)
        case malformed(String)
    }

    /// Whether `:authority` and `user-agent` are kept (a server does not use them).
    private let keepsAuthorityAndUserAgent: Bool
    private var method = Checked.absent
    /// The `:path` of the header block so far (`:path` comes first, so a block cut short for
    /// its size usually has it).
    private(set) var path: String?
    private var authority: String?
    private var contentType = Checked.absent
    /// A gRPC content-type naming a message format other than protobuf (`application/grpc+json`).
    private var otherFormat: String?
    private var encoding = Checked.absent
    private var timeout = Timeout.absent
    private var userAgent: String?
    private var metadata = Metadata()
    /// The first metadata field that could not be decoded.
    private var metadataError: RPCError?
    /// Recent paths and metadata keys (kept across header blocks).
    private var texts = HeaderTextCache()
    /// The `:path` of the last header block `finish` rejected with a gRPC status (`.grpc`), so
    /// the call can still be observed under its method; `nil` otherwise.
    private(set) var rejectedPath: String?

    /// A parser; `keepsAuthorityAndUserAgent: false` leaves those two `nil` in the result.
    init(keepsAuthorityAndUserAgent: Bool = true) {
        self.keepsAuthorityAndUserAgent = keepsAuthorityAndUserAgent
    }

    mutating func add(name: String, value: String) {
        HeaderBytes.with(name) { name in
            HeaderBytes.with(value) { value in add(name: name, value: value) }
        }
    }

    mutating func add(name: HeaderBytes, value: HeaderBytes) {
        switch RequestHeaderName(name) {
        case .method:
            if case .absent = method { method = value.equals("POST") ? .valid : .invalid(value.string) }
        case .path:
            // A gRPC path is ASCII (/package.Service/Method); any other text is an invalid path,
            // and is not made a Swift string (hashing some texts costs time quadratic in length).
            if path == nil { path = value.allSatisfy({ $0 < 0x80 }) ? texts.text(value) : "" }
        case .authority:
            if keepsAuthorityAndUserAgent, authority == nil { authority = value.string }
        case .contentType:
            if case .absent = contentType {
                contentType = GRPCContentType.isGRPC(value) ? .valid : .invalid(value.string)
                if case .valid = contentType, GRPCContentType.namesOtherFormat(value) { otherFormat = value.string }
            }
        case .encoding:
            if case .absent = encoding { encoding = Self.isIdentity(value) ? .valid : .invalid(value.string) }
        case .timeout:
            if case .absent = timeout { timeout = GRPCTimeout.parse(value).map { .valid($0) } ?? .malformed(value.string) }
        case .userAgent:
            if keepsAuthorityAndUserAgent, userAgent == nil { userAgent = value.string }
        case .scheme, .te, .acceptEncoding:
            break
        case nil:
            guard metadataError == nil else { return }
            do {
                try GRPCMetadataHeaders.decode(name: name, value: value, into: &metadata, keys: &texts)
            } catch {
                metadataError = error
            }
        }
    }

    /// Forgets the header block so far (not the cache of recent texts): the next field starts a
    /// new one.
    mutating func reset() {
        method = .absent
        path = nil
        authority = nil
        contentType = .absent
        otherFormat = nil
        encoding = .absent
        timeout = .absent
        userAgent = nil
        if !metadata.isEmpty { metadata = Metadata() }
        metadataError = nil
        rejectedPath = nil
    }

    /// `identity`, in any case.
    private static func isIdentity(_ value: HeaderBytes) -> Bool {
        guard value.count == 8 else { return false }
        return zip(value, "identity".utf8).allSatisfy { byte, expected in
            (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte) == expected
        }
    }

    /// The outcome; the parser is left empty, ready for the next header block (`mutating`, so
    /// the fields move out instead of being copied).
    mutating func finish() -> Result<GRPCRequestHead, GRPCRequestRejection> {
        let (method, contentType, encoding, timeout) = (method, contentType, encoding, timeout)
        let (path, authority, userAgent, metadataError) = (path.take(), authority.take(), userAgent.take(), metadataError.take())
        let otherFormat = otherFormat
        var metadata = Metadata()
        swap(&metadata, &self.metadata)
        reset()

        switch method {
        case .absent: return .failure(.http(status: 400, message: "missing :method"))
        case .invalid(let method):
            return .failure(.http(status: 405, message: "method \(method) not allowed: gRPC requests are POST"))
        case .valid: break
        }
        guard let path, path.utf8.first == UInt8(ascii: "/") else {
            return .failure(.http(status: 400, message: "missing or invalid :path"))
        }
        switch contentType {
        case .valid: break
        case .absent: return .failure(.http(status: 415, message: "content-type missing is not application/grpc"))
        case .invalid(let text): return .failure(.http(status: 415, message: "content-type '\(text)' is not application/grpc"))
        }
        if let otherFormat {
            rejectedPath = path
            let message = "content-type '\(otherFormat)' is not supported: messages are protobuf (application/grpc or application/grpc+proto)"
            return .failure(.grpc(RPCStatus(code: .unimplemented, message: message), acceptEncoding: nil))
        }
        let identity = GRPCRequestHeaders.identity
        if case .invalid(let encoding) = encoding {
            let status = RPCStatus(
                code: .unimplemented,
                message: "grpc-encoding '\(encoding)' is not supported; only identity is")
            rejectedPath = path
            return .failure(.grpc(status, acceptEncoding: identity))
        }
        var duration: Duration?
        switch timeout {
        case .absent: break
        case .valid(let parsed): duration = parsed
        case .malformed(let text):
            rejectedPath = path
            return .failure(.grpc(RPCStatus(code: .internal, message: "malformed grpc-timeout '\(text)'"), acceptEncoding: nil))
        }
        if let metadataError {
            rejectedPath = path
            return .failure(.grpc(metadataError.status, acceptEncoding: nil))
        }
        return .success(GRPCRequestHead(
            path: path, authority: authority, timeout: duration, metadata: metadata, userAgent: userAgent))
    }
}
