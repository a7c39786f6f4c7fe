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
        // One pass picks out the first of each header the call definition uses; the checks then
        // run in the documented order.
        var method: String?
        var path: String?
        var authority: String?
        var contentType: String?
        var encoding: String?
        var timeoutText: String?
        var userAgent: String?
        var customCount = 0
        for field in fields {
            switch RequestHeaderName(field.name) {
            case .method: if method == nil { method = field.value }
            case .path: if path == nil { path = field.value }
            case .authority: if authority == nil { authority = field.value }
            case .contentType: if contentType == nil { contentType = field.value }
            case .encoding: if encoding == nil { encoding = field.value }
            case .timeout: if timeoutText == nil { timeoutText = field.value }
            case .userAgent: if userAgent == nil { userAgent = field.value }
            case .scheme, .te, .acceptEncoding: break
            case nil: customCount += 1
            }
        }
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
        var metadata = Metadata()
        if customCount > 0 {
            do {
                metadata = try GRPCMetadataHeaders.decode(fields)
            } catch {
                return .failure(.grpc(error.status, acceptEncoding: nil))
            }
        }
        return .success(GRPCRequestHead(
            path: path, authority: authority, timeout: timeout, metadata: metadata, userAgent: userAgent))
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
