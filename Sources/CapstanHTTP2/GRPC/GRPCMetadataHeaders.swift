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
        var keys = HeaderTextCache()
        let failure: RPCError? = HeaderBytes.with(name) { name in
            HeaderBytes.with(value) { (value) -> RPCError? in
                do throws(RPCError) {
                    try decode(name: name, value: value, into: &metadata, keys: &keys)
                    return nil
                } catch {
                    return error
                }
            }
        }
        if let failure { throw failure }
    }

    /// `decode(name:value:into:)` on the bytes of a field as nghttp2 hands them over; the key comes
    /// from `keys` when a recent field had the same name.
    static func decode(
        name: HeaderBytes, value: HeaderBytes, into metadata: inout Metadata, keys: inout HeaderTextCache
    ) throws(RPCError) {
        guard isCustomMetadata(name) else { return }
        let key = keys.text(name)
        if name.hasSuffix("-bin") {
            for piece in value.string.split(separator: ",", omittingEmptySubsequences: false) {
                let text = piece.trimmingSpaces
                guard let bytes = GRPCBase64.decode(text) else {
                    throw RPCError(code: .internal, message: "metadata '\(key)' is not valid base64")
                }
                // `isCustomMetadata` checked the name as `Metadata.add` would.
                metadata.appendValidated(key, .binary(bytes))
            }
        } else if value.allSatisfy({ $0 >= 0x20 && $0 <= 0x7E }) {
            metadata.appendValidated(key, .string(value.string))
        }
    }

    /// Whether a field called `name` is custom metadata an application may see.
    static func isCustomMetadata(_ name: String) -> Bool {
        HeaderBytes.with(name) { isCustomMetadata($0) }
    }

    /// Whether a field called `name` is custom metadata an application may see.
    static func isCustomMetadata(_ name: HeaderBytes) -> Bool {
        guard let first = name.first, first != UInt8(ascii: ":") else { return false }
        guard !name.hasPrefix("grpc-"), !isTransportHeader(name) else { return false }
        return name.allSatisfy(isKeyByte)
    }

    /// Header fields owned by HTTP/2 or gRPC itself, never custom metadata (besides every
    /// pseudo-header and every other `grpc-` name, reserved for gRPC). A `switch`, so checking a
    /// field hashes nothing.
    private static func isTransportHeader(_ name: HeaderBytes) -> Bool {
        // By length first: at most a few byte comparisons per field.
        switch name.count {
        case 2: name.equals("te")
        case 4: name.equals("host")
        case 7: name.equals("upgrade")
        case 10: name.equals("user-agent") || name.equals("connection") || name.equals("keep-alive")
        case 11: name.equals("grpc-status")
        case 12: name.equals("content-type") || name.equals("grpc-timeout") || name.equals("grpc-message")
        case 13: name.equals("grpc-encoding")
        case 16: name.equals("proxy-connection")
        case 17: name.equals("grpc-message-type") || name.equals("transfer-encoding")
        case 20: name.equals("grpc-accept-encoding")
        case 23: name.equals("grpc-status-details-bin")
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
