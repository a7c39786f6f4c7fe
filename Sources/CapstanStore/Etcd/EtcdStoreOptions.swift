public import CapstanHTTP2

/// Settings of an `EtcdStore`.
public struct EtcdStoreOptions: Sendable {
    /// Prepended to every key the store reads, writes and watches (for example `/capstan-a`), so that
    /// several Capstan clusters can share one etcd. Keys the store returns never include it.
    public var keyPrefix: String = ""
    /// How long one unary request (Range, Txn, Compact, lease calls) may take.
    public var requestTimeout: Duration = .seconds(15)
    /// Reads (get, list, current revision, lease lookups) and keep-alives are retried this many times
    /// after an unavailable member or a lost connection, unless the caller's task was cancelled;
    /// writes are never retried (their outcome is unknown, so they fail with `unavailable`).
    public var readRetries: Int = 10
    /// The first retry's delay; each further one doubles, up to `maxRetryDelay`.
    public var retryDelay: Duration = .milliseconds(50)
    public var maxRetryDelay: Duration = .seconds(1)
    /// How long a watch keeps trying to re-establish its stream (from the revision it reached) before
    /// it fails with `unavailable`.
    public var watchReconnectTimeout: Duration = .seconds(60)
    /// Compact physically (etcd waits until the history is removed from its backend).
    public var physicalCompaction = false
    /// Event loop threads of the store's own HTTP/2 transport.
    public var eventLoopThreads = 1
    /// The HTTP/2 transport. Defaults differ from the transport's: responses up to 256 MiB (a large
    /// listing; etcd itself sends up to 2 GiB; a listing over the limit is read in smaller pages,
    /// see `EtcdStore.list`), a short reconnect backoff (at most 1 s: a member that comes back
    /// is used again within about a second, where 5 s kept writes failing for seconds after an
    /// outage; a refused connection costs little), and a keepalive. Without it a member that stops answering
    /// while its connection stays up (a frozen process, a dropped route) holds the store's watch
    /// and every request on it for ever: no bytes and no error arrive. With it the connection
    /// closes at most 10 s after the member's last bytes (a PING after 7 s of silence, 3 s for
    /// its answer), and requests and the watch go on with another member. The pings go only
    /// while a stream is open and at least 7 s apart: etcd closes connections that ping more
    /// often than every 5 s (its `--grpc-keepalive-min-time`), or with no stream open.
    public var transport: HTTP2ClientTransport.Configuration = {
        var configuration = HTTP2ClientTransport.Configuration()
        configuration.maxReceiveMessageSize = 256 * 1024 * 1024
        configuration.connectTimeout = .seconds(5)
        configuration.backoff = .init(initial: .milliseconds(200), multiplier: 1.6, maximum: .seconds(1), jitter: 0.2)
        configuration.keepalive = Keepalive(interval: .seconds(7), timeout: .seconds(3), pingsWithoutStreams: false)
        return configuration
    }()

    public init() {}
}
