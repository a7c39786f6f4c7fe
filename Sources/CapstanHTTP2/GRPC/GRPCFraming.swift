/// gRPC's Length-Prefixed-Message framing: a 1-byte compressed flag, a 4-byte big-endian length,
/// then the message. Messages are never compressed here (identity encoding only).
enum GRPCFraming {
    /// The size of the prefix before every message.
    static let prefixLength = 5

    /// Appends `message` with its prefix (compressed flag 0) to `buffer`.
    static func append(_ message: [UInt8], to buffer: inout [UInt8]) {
        precondition(message.count <= Int(UInt32.max), "a gRPC message is at most 4 GiB")
        let length = UInt32(message.count)
        buffer.reserveCapacity(buffer.count + prefixLength + message.count)
        buffer.append(0)
        buffer.append(UInt8(truncatingIfNeeded: length >> 24))
        buffer.append(UInt8(truncatingIfNeeded: length >> 16))
        buffer.append(UInt8(truncatingIfNeeded: length >> 8))
        buffer.append(UInt8(truncatingIfNeeded: length))
        buffer.append(contentsOf: message)
    }
}
