/// Read-your-writes across API servers: request metadata that a read carries to say which store
/// revision its answer must reflect at least.
///
/// An API server answers reads from its watch cache once the cache has applied every write that
/// server acknowledged. A client that wrote through one API server and then reads through another
/// (after a failover) sends the newest revision it has seen under `key`; the server answering
/// waits until its cache has applied that revision before it serves a Get, a List's first page or
/// a Watch. A revision the store never reached is `OUT_OF_RANGE` with `rejectedKey` in the
/// trailers (the client should forget it and read again); one the cache does not reach in time
/// is `UNAVAILABLE` (retryable).
public enum ReadAfter {
    /// The metadata key; its value is a decimal revision.
    public static let key = "capstan-read-after"
    /// The trailer of the `OUT_OF_RANGE` refusing a revision past the store's; its value is the
    /// store's revision.
    public static let rejectedKey = "capstan-read-after-rejected"

    /// The revision in `value`, or nil when it is not a decimal number.
    public static func revision(_ value: String) -> Int64? {
        guard !value.isEmpty, value.utf8.count <= 19, value.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            return nil
        }
        return Int64(value)
    }
}
