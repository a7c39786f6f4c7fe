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
        guard let method = fields.first(":method") else {
            return .failure(.http(status: 400, message: "missing :method"))
        }
        guard method == "POST" else {
            return .failure(.http(status: 405, message: "method \(method) not allowed: gRPC requests are POST"))
        }
        guard let path = fields.first(":path"), path.hasPrefix("/") else {
            return .failure(.http(status: 400, message: "missing or invalid :path"))
        }
        guard let contentType = fields.first("content-type"), GRPCContentType.isGRPC(contentType) else {
            let shown = fields.first("content-type").map { "'\($0)'" } ?? "missing"
            return .failure(.http(status: 415, message: "content-type \(shown) is not application/grpc"))
        }
        if let encoding = fields.first("grpc-encoding"), encoding.lowercased() != identity {
            let status = RPCStatus(
                code: .unimplemented,
                message: "grpc-encoding '\(encoding)' is not supported; only identity is")
            return .failure(.grpc(status, acceptEncoding: identity))
        }
        var timeout: Duration?
        if let value = fields.first("grpc-timeout") {
            guard let parsed = GRPCTimeout.parse(value) else {
                return .failure(.grpc(RPCStatus(code: .internal, message: "malformed grpc-timeout '\(value)'"), acceptEncoding: nil))
            }
            timeout = parsed
        }
        let metadata: Metadata
        do {
            metadata = try GRPCMetadataHeaders.decode(fields)
        } catch {
            return .failure(.grpc(error.status, acceptEncoding: nil))
        }
        return .success(GRPCRequestHead(
            path: path, authority: fields.first(":authority"), timeout: timeout, metadata: metadata,
            userAgent: fields.first("user-agent")))
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
