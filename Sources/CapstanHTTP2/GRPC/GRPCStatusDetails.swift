import CapstanAPI
import CapstanWire

/// `grpc-status-details-bin` cut to a size: a serialized `google.rpc.Status` whose message must
/// match the (perhaps cut) `grpc-message`, and whose details are kept while they fit.
enum GRPCStatusDetails {
    static let badRequestSuffix = "/google.rpc.BadRequest"

    /// `details` at most `limit` bytes long, with its message equal to `sentMessage` where it
    /// equalled `message` (clients such as grpcio's `rpc_status.from_call` refuse details whose
    /// message differs from `grpc-message`).
    ///
    /// Details that fit and need no new message are returned as they are. Otherwise the
    /// `google.rpc.Status` is rebuilt: its code, the message, then each detail that fits, in
    /// order; of a `google.rpc.BadRequest` that does not fit whole, the field violations that do,
    /// then one more saying how many were left out. Bytes that are not a `google.rpc.Status`
    /// are dropped (`nil`) when too long: a cut would not parse.
    static func bounded(_ details: [UInt8], message: String, sentMessage: String, limit: Int) -> [UInt8]? {
        guard details.count > limit || message != sentMessage else { return details }
        guard var status = try? Google_Rpc_Status(serializedBytes: details) else {
            return details.count <= limit ? details : nil
        }
        status.message = status.message == message
            ? sentMessage
            : GRPCStatusMessage.truncated(status.message, maxEncodedCount: GRPCResponseHeaders.maxMessageCount)
        let all = status.details
        status.details = []
        var size = status.serializedBytes().count
        for detail in all {
            let detailSize = fieldSize(detail.serializedBytes().count)
            if size + detailSize <= limit {
                status.details.append(detail)
                size += detailSize
            } else if detail.typeUrl.hasSuffix(badRequestSuffix),
                let cut = cutBadRequest(detail, room: limit - size)
            {
                status.details.append(cut)
                size += fieldSize(cut.serializedBytes().count)
            }
        }
        let bytes = status.serializedBytes()
        if bytes.count <= limit { return bytes }
        // Not reached with the room computed above; should it be, the code and message still fit.
        status.details = []
        let bare = status.serializedBytes()
        return bare.count <= limit ? bare : nil
    }

    /// `detail`'s `google.rpc.BadRequest` with as many field violations as fit in `room` bytes
    /// (the whole `Any` as a field of `google.rpc.Status`), the last one saying how many more
    /// there were; `nil` when not even one fits.
    private static func cutBadRequest(_ detail: Google_Protobuf_Any, room: Int) -> Google_Protobuf_Any? {
        guard let badRequest = try? Google_Rpc_BadRequest(serializedBytes: detail.value) else { return nil }
        let violations = badRequest.fieldViolations
        // The `Any` around the violations: its own field header (tag + length, at most 4 bytes
        // below 2 MiB), `type_url`, and the header of `value`.
        let typeURLSize = fieldSize(detail.typeUrl.utf8.count)
        var available = room - 4 - typeURLSize - 4
        available -= fieldSize(summary(omitted: violations.count).serializedBytes().count)
        var kept: [Google_Rpc_BadRequest.FieldViolation] = []
        for violation in violations {
            let violationSize = fieldSize(violation.serializedBytes().count)
            guard violationSize <= available else { break }
            kept.append(violation)
            available -= violationSize
        }
        guard !kept.isEmpty else { return nil }
        kept.append(summary(omitted: violations.count - kept.count))
        var cut = Google_Rpc_BadRequest()
        cut.fieldViolations = kept
        var any = detail
        any.value = cut.serializedBytes()
        return any
    }

    /// The violation that ends a cut list.
    static func summary(omitted: Int) -> Google_Rpc_BadRequest.FieldViolation {
        var violation = Google_Rpc_BadRequest.FieldViolation()
        violation.field = "…"
        violation.description = "and \(omitted) more field violations, left out to keep the response trailers small"
        return violation
    }

    /// The bytes a length-delimited field of `count` bytes takes: tag, length varint, payload.
    private static func fieldSize(_ count: Int) -> Int {
        var varint = 1
        var rest = count >> 7
        while rest > 0 {
            varint += 1
            rest >>= 7
        }
        return 1 + varint + count
    }
}
