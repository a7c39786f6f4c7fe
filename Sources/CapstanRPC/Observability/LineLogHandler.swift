public import Logging

/// Where `LineLogHandler` writes finished lines (without their line feed).
public protocol LogSink: Sendable {
    /// Writes one line; called from any thread.
    func write(line: String)
}

/// A swift-log handler writing one `LogLine` per record to a sink (standard error by default),
/// in `text` (`key=value`) or `json` format. Bootstrap it once in a daemon:
///
///     LoggingSystem.bootstrap { LineLogHandler(label: $0, level: .info, format: .text) }
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    /// The logger's label, printed on every line.
    public let label: String
    public let format: LogLine.Format
    private let sink: any LogSink
    private let clock: @Sendable () -> LogTimestamp

    /// A handler for `label`; `clock` gives each record's time (tests fix it).
    public init(
        label: String, level: Logger.Level = .info, format: LogLine.Format = .text,
        sink: any LogSink = StandardErrorSink.shared,
        metadataProvider: Logger.MetadataProvider? = nil,
        clock: @escaping @Sendable () -> LogTimestamp = StandardErrorSink.now
    ) {
        self.label = label
        self.logLevel = level
        self.format = format
        self.sink = sink
        self.metadataProvider = metadataProvider
        self.clock = clock
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let own = event.metadata {
            if merged.isEmpty { merged = own } else { merged.merge(own) { _, new in new } }
        }
        if let error = event.error, merged["error"] == nil { merged["error"] = .string(String(describing: error)) }
        sink.write(line: LogLine.format(
            format, time: clock(), level: event.level, label: label, message: event.message.description,
            metadata: merged))
    }
}
