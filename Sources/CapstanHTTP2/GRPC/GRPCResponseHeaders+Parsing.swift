import CapstanRPC

extension GRPCResponseHeaders {
    /// Interprets a response's first header block on the client.
    ///
    /// - A block with `grpc-status` is a trailers-only response: `.status`, as `parseTrailers`
    ///   reads it (gRPC requires a present `grpc-status` to be used whatever else the block says).
    /// - A missing or malformed `:status` is `INTERNAL`; any status other than 200 maps through
    ///   `GRPCHTTPStatus`. Informational (1xx) blocks are the transport's to skip.
    /// - A 200 whose `content-type` is not gRPC is `UNKNOWN`.
    /// - Otherwise `.headers` with the metadata (`INTERNAL` when it is malformed).
    static func parseHeaders(_ fields: [HeaderField]) -> ClientResponsePart {
        if fields.first("grpc-status") != nil {
            return parseTrailers(fields)
        }
        guard let statusText = fields.first(":status"), let httpStatus = parseHTTPStatus(statusText) else {
            return failure(.internal, "response has no valid :status")
        }
        guard httpStatus == 200 else {
            return .status(GRPCHTTPStatus.rpcStatus(for: httpStatus), details: nil, trailers: Metadata())
        }
        guard let contentType = fields.first("content-type"), GRPCContentType.isGRPC(contentType) else {
            let shown = fields.first("content-type").map { "'\($0)'" } ?? "missing"
            return failure(.unknown, "response content-type \(shown) is not application/grpc")
        }
        do {
            return .headers(try GRPCMetadataHeaders.decode(fields))
        } catch {
            return .status(error.status, details: nil, trailers: Metadata())
        }
    }

    /// Interprets the trailers (or a trailers-only block) on the client: `grpc-status` (a missing
    /// or non-numeric one is `INTERNAL`; numbers outside 0–16 are `UNKNOWN`), the decoded
    /// `grpc-message`, `grpc-status-details-bin` and the trailing metadata. Malformed
    /// base64 in the details or metadata is `INTERNAL`.
    static func parseTrailers(_ fields: [HeaderField]) -> ClientResponsePart {
        guard let statusText = fields.first("grpc-status") else {
            return failure(.internal, "response trailers carry no grpc-status")
        }
        guard !statusText.isEmpty, statusText.utf8.count <= 9,
              statusText.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let wireValue = Int(statusText) else {
            return failure(.internal, "malformed grpc-status '\(statusText)'")
        }
        let message = fields.first("grpc-message").map(GRPCStatusMessage.decode) ?? ""
        var details: [UInt8]?
        if let detailsText = fields.first("grpc-status-details-bin") {
            guard let bytes = GRPCBase64.decode(detailsText) else {
                return failure(.internal, "malformed grpc-status-details-bin (not base64)")
            }
            details = bytes
        }
        let trailers: Metadata
        do {
            trailers = try GRPCMetadataHeaders.decode(fields)
        } catch {
            return .status(error.status, details: nil, trailers: Metadata())
        }
        return .status(RPCStatus(code: RPCCode(wireValue: wireValue), message: message), details: details, trailers: trailers)
    }

    /// A three-digit HTTP status.
    private static func parseHTTPStatus(_ text: String) -> Int? {
        guard text.utf8.count == 3, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        return Int(text)
    }

    private static func failure(_ code: RPCCode, _ message: String) -> ClientResponsePart {
        .status(RPCStatus(code: code, message: message), details: nil, trailers: Metadata())
    }
}
