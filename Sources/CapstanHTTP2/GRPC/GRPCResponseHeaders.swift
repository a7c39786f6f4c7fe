import CapstanRPC

/// A gRPC response's header blocks: built on the server (this file), parsed on the client
/// (`GRPCResponseHeaders+Parsing.swift`).
enum GRPCResponseHeaders {
    /// The response headers: `:status 200`, `content-type: application/grpc`, then `metadata`.
    static func headers(metadata: Metadata) -> [HeaderField] {
        [HeaderField(name: ":status", value: "200"), HeaderField(name: "content-type", value: GRPCContentType.value)]
            + GRPCMetadataHeaders.encode(metadata)
    }

    /// The trailers: `grpc-status`, `grpc-message` percent-encoded (omitted when empty),
    /// `grpc-status-details-bin` as unpadded base64 (when `details` is set), then `metadata`.
    static func trailers(status: RPCStatus, details: [UInt8]?, metadata: Metadata) -> [HeaderField] {
        var fields = [HeaderField(name: "grpc-status", value: String(status.code.rawValue))]
        if !status.message.isEmpty {
            fields.append(HeaderField(name: "grpc-message", value: GRPCStatusMessage.encode(status.message)))
        }
        if let details {
            fields.append(HeaderField(name: "grpc-status-details-bin", value: GRPCBase64.encodeUnpadded(details)))
        }
        return fields + GRPCMetadataHeaders.encode(metadata)
    }

    /// A trailers-only response (one header block ending the stream, for a call that fails at once):
    /// `:status 200`, `content-type`, then the trailers.
    static func trailersOnly(status: RPCStatus, details: [UInt8]?, metadata: Metadata) -> [HeaderField] {
        [HeaderField(name: ":status", value: "200"), HeaderField(name: "content-type", value: GRPCContentType.value)]
            + trailers(status: status, details: details, metadata: metadata)
    }
}
