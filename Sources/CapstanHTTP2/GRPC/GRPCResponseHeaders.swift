import CapstanRPC

/// A gRPC response's header blocks: built on the server (this file), parsed on the client
/// (`GRPCResponseHeaders+Parsing.swift`).
enum GRPCResponseHeaders {
    /// The response headers: `:status 200`, `content-type: application/grpc`, then `metadata`.
    static func headers(metadata: Metadata) -> [HeaderField] {
        [HeaderField(name: ":status", value: "200"), HeaderField(name: "content-type", value: GRPCContentType.value)]
            + GRPCMetadataHeaders.encode(metadata)
    }

    /// At most this many bytes of `grpc-message` (percent-encoded, the note included).
    static let maxMessageCount = 2048
    /// At most this many bytes of `grpc-status-details-bin` before base64 (5,120 after).
    static let maxDetailsCount = 3840

    /// The trailers: `grpc-status`, `grpc-message` percent-encoded (omitted when empty),
    /// `grpc-status-details-bin` as unpadded base64 (when `details` is set), then `metadata`.
    ///
    /// A status must always reach the client, so its two fields are bounded: a header block past
    /// nghttp2's 64 KiB send limit is never sent, and clients refuse metadata past theirs
    /// (grpcio from 8 KiB on, at random below its hard 16 KiB; grpc-java 8 KiB; both count 32
    /// bytes a field besides the name and value). `grpc-message` is cut to `maxMessageCount`
    /// bytes (`GRPCStatusMessage.truncated`: "… (N more bytes)"), the details to
    /// `maxDetailsCount` (`GRPCStatusDetails.bounded`: the details' message is the cut one, and of
    /// a BadRequest the field violations that fit, then "and N more"). With `:status` and
    /// `content-type`, the block stays under 7.5 KiB, leaving room below 8 KiB for a little
    /// trailing metadata (not bounded here: the handler's own). The code is never changed.
    static func trailers(status: RPCStatus, details: [UInt8]?, metadata: Metadata) -> [HeaderField] {
        var fields = [HeaderField(name: "grpc-status", value: String(status.code.rawValue))]
        let message = GRPCStatusMessage.truncated(status.message, maxEncodedCount: maxMessageCount)
        if !message.isEmpty {
            fields.append(HeaderField(name: "grpc-message", value: GRPCStatusMessage.encode(message)))
        }
        if let details,
            let details = GRPCStatusDetails.bounded(details, message: status.message, sentMessage: message, limit: maxDetailsCount)
        {
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
