/// Per-call settings.
public struct CallOptions: Sendable {
    /// How long the call may take; the deadline goes to the server and is enforced locally too.
    public var timeout: Duration?
    /// Custom request metadata.
    public var metadata: Metadata

    public init(timeout: Duration? = nil, metadata: Metadata = Metadata()) {
        self.timeout = timeout
        self.metadata = metadata
    }

    /// No timeout, no metadata.
    public static let `default` = CallOptions()
}
