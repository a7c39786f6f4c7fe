public import CapstanHTTP2

/// How a `CapstanClient` makes its calls.
public struct ClientOptions: Sendable {
    /// The deadline of a call that names none (every attempt of it together); `nil`: no
    /// deadline. Watches have no deadline unless their caller gives one.
    public var timeout: Duration?
    /// When and how often failed calls are tried again.
    public var retry: RetryPolicy
    /// Sent as `authorization: Bearer <token>` on every call.
    public var token: String?
    /// The HTTP/2 connections (`CapstanClient(servers:)` only). The default reconnects to a
    /// server that went away within 100 ms to 2 s, rather than the transport's own 1 s to 2 min,
    /// so a restarted API server is found again quickly; gives up on a connect after 5 s; and
    /// PINGs a connection silent for 30 s, closing it after 10 s without an answer, so a watch
    /// on a server that vanished without closing its connections fails and resumes elsewhere.
    public var transport: HTTP2ClientTransport.Configuration

    public init(
        timeout: Duration? = .seconds(30),
        retry: RetryPolicy = RetryPolicy(),
        token: String? = nil,
        transport: HTTP2ClientTransport.Configuration = ClientOptions.defaultTransport
    ) {
        self.timeout = timeout
        self.retry = retry
        self.token = token
        self.transport = transport
    }

    /// The transport configuration of the default options.
    public static var defaultTransport: HTTP2ClientTransport.Configuration {
        var configuration = HTTP2ClientTransport.Configuration()
        configuration.connectTimeout = .seconds(5)
        configuration.keepalive = Keepalive(interval: .seconds(30), timeout: .seconds(10))
        configuration.backoff = HTTP2ClientTransport.Backoff(
            initial: .milliseconds(100), multiplier: 1.6, maximum: .seconds(2), jitter: 0.2)
        return configuration
    }
}

/// Retries of calls that failed with `UNAVAILABLE`: idempotent ones (Get, List, opening a
/// Watch) always, others only when the server provably never processed them. Each pause is
/// `initialBackoff × multiplier^(attempt−1)`, at most `maxBackoff`, times a random factor in
/// 1 ± `jitter`; no pause outlasts the call's deadline.
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts in all, the first included; 1 means no retries.
    public var maxAttempts: Int
    public var initialBackoff: Duration
    public var multiplier: Double
    public var maxBackoff: Duration
    public var jitter: Double

    public init(
        maxAttempts: Int = 8, initialBackoff: Duration = .milliseconds(50), multiplier: Double = 2,
        maxBackoff: Duration = .seconds(2), jitter: Double = 0.2
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialBackoff = initialBackoff
        self.multiplier = multiplier
        self.maxBackoff = maxBackoff
        self.jitter = min(max(jitter, 0), 1)
    }

    /// One attempt, no retries.
    public static let none = RetryPolicy(maxAttempts: 1)

    /// The pause before attempt `attempt + 1` (attempts count from 1).
    func pause(after attempt: Int) -> Duration {
        var delay = initialBackoff
        for _ in 1..<max(1, attempt) {
            delay = delay * multiplier
            if delay >= maxBackoff { break }
        }
        return min(delay, maxBackoff) * Double.random(in: (1 - jitter)...(1 + jitter))
    }
}
