/// A running count of bytes a server holds for its clients, kept for one connection (and,
/// through `parent`, for all connections of one event loop), so the server can bound them:
/// response bytes queued and not yet handed to nghttp2 (clients that do not read; see
/// `ServerConnection.outboundRefusal`), and request bytes of calls not yet ended
/// (`ServerConnection.inboundLedger`).
///
/// Safety of `@unchecked Sendable`: loop thread only. The streams' queues change on their loop,
/// and each loop has its own ledger (handed to a connection before it starts on that loop), so
/// counting costs two plain additions per change.
final class ByteLedger: @unchecked Sendable {
    /// Bytes counted now.
    private(set) var queued = 0
    /// The ledger that counts these bytes too (a loop's, for a connection's).
    let parent: ByteLedger?

    init(parent: ByteLedger? = nil) {
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
