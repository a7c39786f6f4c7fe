import CapstanRPC

/// Custom metadata ⇄ HTTP/2 header fields. `-bin` values travel as base64.
enum GRPCMetadataHeaders {
    /// One field per entry, in order; binary values as unpadded base64.
    static func encode(_ metadata: Metadata) -> [HeaderField] {
        metadata.map { entry in
            switch entry.value {
            case .string(let text): HeaderField(name: entry.key, value: text)
            case .binary(let bytes): HeaderField(name: entry.key, value: GRPCBase64.encodeUnpadded(bytes))
            }
        }
    }

    /// The custom metadata in a header block.
    ///
    /// Skips pseudo-headers, transport headers and `grpc-` names. A `-bin` value may hold several
    /// comma-separated base64 values (padded or not), each an entry. As gRPC requires, a field
    /// that is valid HTTP but not valid gRPC metadata (a name outside `[0-9a-z_.-]`, an ASCII value
    /// outside 0x20–0x7E) is dropped rather than failing the call.
    /// - Throws: `RPCError` with `INTERNAL` when a `-bin` value is not base64.
    static func decode(_ fields: [HeaderField]) throws(RPCError) -> Metadata {
        var metadata = Metadata()
        for field in fields {
            try decode(name: field.name, value: field.value, into: &metadata)
        }
        return metadata
    }

    /// Adds the entries of one header field to `metadata` if it is custom metadata (see
    /// `decode(_:)`).
    static func decode(name: String, value: String, into metadata: inout Metadata) throws(RPCError) {
        guard isCustomMetadata(name) else { return }
        if name.hasSuffix("-bin") {
            for piece in value.split(separator: ",", omittingEmptySubsequences: false) {
                let text = piece.trimmingSpaces
                guard let bytes = GRPCBase64.decode(text) else {
                    throw RPCError(code: .internal, message: "metadata '\(name)' is not valid base64")
                }
                // `isCustomMetadata` checked the name as `Metadata.add` would.
                metadata.appendValidated(name, .binary(bytes))
            }
        } else if value.utf8.allSatisfy({ $0 >= 0x20 && $0 <= 0x7E }) {
            metadata.appendValidated(name, .string(value))
        }
    }

    /// Whether a field called `name` is custom metadata an application may see.
    static func isCustomMetadata(_ name: String) -> Bool {
        guard let first = name.utf8.first, first != UInt8(ascii: ":") else { return false }
        guard !name.hasPrefix("grpc-"), !isTransportHeader(name) else { return false }
        return name.utf8.allSatisfy(isKeyByte)
    }

    /// Header fields owned by HTTP/2 or gRPC itself, never custom metadata (besides every
    /// pseudo-header and every other `grpc-` name, reserved for gRPC). A `switch`, so checking a
    /// field hashes nothing.
    private static func isTransportHeader(_ name: String) -> Bool {
        // By length first: at most a few string comparisons per field.
        switch name.utf8.count {
        case 2: name == "te"
        case 4: name == "host"
        case 7: name == "upgrade"
        case 10: name == "user-agent" || name == "connection" || name == "keep-alive"
        case 11: name == "grpc-status"
        case 12: name == "content-type" || name == "grpc-timeout" || name == "grpc-message"
        case 13: name == "grpc-encoding"
        case 16: name == "proxy-connection"
        case 17: name == "grpc-message-type" || name == "transfer-encoding"
        case 20: name == "grpc-accept-encoding"
        case 23: name == "grpc-status-details-bin"
        default: false
        }
    }

    /// `0-9 a-z _ . -`, the bytes of a gRPC header name.
    private static func isKeyByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }
}

extension Substring {
    /// The text without leading and trailing spaces and tabs.
    fileprivate var trimmingSpaces: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[start...end])
    }
}
