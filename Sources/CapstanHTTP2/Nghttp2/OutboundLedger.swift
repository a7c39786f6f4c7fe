/// A running count of response bytes queued and not yet handed to nghttp2, kept for one
/// connection (and, through `parent`, for all connections of one event loop), so a server can
/// bound what clients that do not read make it hold (see `ServerConnection.outboundRefusal`).
/// The server counts the request bytes it holds in unfinished messages with it too
/// (`ServerConnection.inboundLedger`).
///
/// Safety of `@unchecked Sendable`: loop thread only. The streams' queues change on their loop,
/// and each loop has its own ledger (handed to a connection before it starts on that loop), so
/// counting costs two plain additions per change.
final class OutboundLedger: @unchecked Sendable {
    /// Bytes queued now.
    private(set) var queued = 0
    /// The ledger that counts these bytes too (a loop's, for a connection's).
    let parent: OutboundLedger?

    init(parent: OutboundLedger? = nil) {
        self.parent = parent
    }

    func add(_ bytes: Int) {
        queued += bytes
        parent?.add(bytes)
    }

    func subtract(_ bytes: Int) {
        queued -= bytes
        parent?.subtract(bytes)
    }
}
