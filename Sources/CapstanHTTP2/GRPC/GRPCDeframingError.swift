public import CapstanRPC

/// Why a stream of DATA bytes is not a valid sequence of gRPC messages.
enum GRPCDeframingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A message with compressed flag 1 although no `grpc-encoding` other than identity is in use.
    case compressedMessage
    /// A message whose announced length exceeds the receiver's limit.
    case tooLarge(length: Int, limit: Int)
    /// The stream ended with `buffered` bytes of an incomplete message.
    case truncated(buffered: Int)
    /// A compressed flag other than 0 or 1.
    case badFlag(UInt8)

    /// The status a call fails with: UNIMPLEMENTED for compression, RESOURCE_EXHAUSTED for an
    /// oversized message, INTERNAL for a corrupt stream.
    var status: RPCStatus {
        switch self {
        case .compressedMessage:
            RPCStatus(
                code: .unimplemented,
                message: "received a compressed message, but compression is not supported (only identity)")
        case .tooLarge(let length, let limit):
            RPCStatus(
                code: .resourceExhausted,
                message: "\(ReceiveLimit.exceededMessage)\(length) bytes, larger than the limit of \(limit) bytes")
        case .truncated(let buffered):
            RPCStatus(
                code: .internal,
                message: "the stream ended inside a message (\(buffered) bytes of it received)")
        case .badFlag(let flag):
            RPCStatus(code: .internal, message: "invalid compressed flag \(flag) in a message prefix (must be 0 or 1)")
        }
    }

    var description: String { status.description }
}

/// The receiver's message size limit (`maxReceiveMessageSize`), as calls see it.
public enum ReceiveLimit {
    /// How the status message of a call that received a message over the limit begins.
    static let exceededMessage = "received a message of "

    /// Whether `error` is this side refusing a received message over its size limit (a call's
    /// RESOURCE_EXHAUSTED from its own deframer, not one the peer sent).
    public static func isExceeded(_ error: RPCError) -> Bool {
        error.code == .resourceExhausted && error.message.hasPrefix(exceededMessage)
    }
}
