/// The kinds of frame a delegate hears about.
enum FrameKind: Sendable {
    case data, headers, rstStream, settings, ping, goaway, windowUpdate, other
}

/// What a `Session` reports. Every method runs on the loop thread, from inside
/// `Session.receive` or `Session.produceOutput` (that is, inside nghttp2): a delegate may submit
/// frames but must not start reading or writing the session again from these methods.
///
/// A class rather than a protocol, so that the session can hold its delegate as an `Unmanaged`
/// reference and call it without reference counting (nghttp2 calls back a dozen times per
/// request). The methods here do nothing; `HTTP2Connection` and its subclasses override them.
class SessionDelegate {
    /// A header block starts on `streamID` (`first`: request headers on a server, the first
    /// response block on a client; otherwise trailers).
    func sessionBeginHeaders(streamID: Int32, first: Bool) {}
    /// One field of the header block (`name` and `value` valid only during the call). Returns
    /// false to end the connection (a block that decodes to far more than any honest peer sends:
    /// `HTTP2Connection.headerBlockHardLimit`); the delegate says why in `receiveFailure`.
    func sessionHeader(streamID: Int32, name: HeaderBytes, value: HeaderBytes) -> Bool { true }
    /// The header block of `streamID` is complete.
    func sessionHeadersReceived(streamID: Int32, endStream: Bool) {}
    /// Bytes of a DATA frame (padding excluded), valid only during the call.
    func sessionDataChunk(streamID: Int32, chunk: DataChunk) {}
    /// A DATA frame ended; `endStream` when it carried END_STREAM.
    func sessionDataReceived(streamID: Int32, endStream: Bool) {}
    /// The stream is gone (both sides ended, reset, or refused); `errorCode` is HTTP/2's.
    func sessionStreamClosed(streamID: Int32, errorCode: UInt32) {}
    func sessionFrameSent(streamID: Int32, kind: FrameKind, endStream: Bool) {}
    /// nghttp2 dropped a frame it could not send (for instance a header block over its send
    /// limit); the stream stays as it was.
    func sessionFrameNotSent(streamID: Int32, kind: FrameKind) {}
    /// A PING we sent was acknowledged.
    func sessionPingAcknowledged() {}
    func sessionGoAwayReceived(lastStreamID: Int32, errorCode: UInt32) {}
    /// The peer's SETTINGS arrived (not an ACK).
    func sessionSettingsReceived() {}
    /// The outbound queue of `streamID`, for the data provider; `nil` resets the stream.
    func sessionOutbound(streamID: Int32) -> StreamOutbound? { nil }
}

/// The bytes of one DATA frame chunk, valid only during `sessionDataChunk`.
struct DataChunk {
    fileprivate let bytes: UnsafeRawBufferPointer

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    var count: Int { bytes.count }

    /// Hands the bytes to a gRPC deframer (which copies them).
    func append(to deframer: inout GRPCDeframer) {
        deframer.append(bytes)
    }

    /// Hands the bytes to a gRPC deframer, which passes each message they complete to `deliver`
    /// (copied once; see `GRPCDeframer.append(_:deliver:)`).
    func deframe(into deframer: inout GRPCDeframer, _ deliver: ([UInt8]) -> Void) throws(GRPCDeframingError) {
        try deframer.append(bytes, deliver: deliver)
    }
}
