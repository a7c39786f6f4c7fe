import Logging
import Synchronization

/// One log record as a handler received it.
struct CapturedRecord: Sendable {
    var level: Logger.Level
    var message: String
    var metadata: Logger.Metadata
}

/// Records kept by `CapturingLogHandler`s, shared by every logger made from it.
final class CapturedRecords: Sendable {
    private let records = Mutex<[CapturedRecord]>([])

    var all: [CapturedRecord] { records.withLock { $0 } }

    func append(_ record: CapturedRecord) { records.withLock { $0.append(record) } }

    /// A logger at `level` whose records land here.
    func logger(level: Logger.Level = .trace) -> Logger {
        var logger = Logger(label: "test") { _ in CapturingLogHandler(store: self) }
        logger.logLevel = level
        return logger
    }
}

/// A swift-log handler keeping every record in memory.
struct CapturingLogHandler: LogHandler {
    let store: CapturedRecords
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        store.append(CapturedRecord(
            level: event.level, message: event.message.description,
            metadata: metadata.merging(event.metadata ?? [:]) { _, new in new }))
    }
}
