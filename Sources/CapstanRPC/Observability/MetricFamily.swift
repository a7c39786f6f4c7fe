/// A family of samples that a part of a server other than its RPC layer keeps (the objects a
/// cache holds, a store's commits, the process's memory), added to `RPCMetrics` through a
/// collector (`RPCMetrics.addCollector`) and rendered after the RPC families, read when the
/// metrics are read.
public struct MetricFamily: Sendable, Hashable {
    /// Prometheus' metric types this server uses outside histograms.
    public enum Kind: String, Sendable, Hashable {
        /// A value that goes up and down (objects held, open descriptors).
        case gauge
        /// A total since the process started (its name should end in `_total`).
        case counter
    }

    /// One value, with its labels (rendered sorted by name).
    public struct Sample: Sendable, Hashable {
        public var labels: [String: String]
        public var value: Double

        public init(_ value: Double, labels: [String: String] = [:]) {
            self.value = value
            self.labels = labels
        }

        public init(_ value: Int, labels: [String: String] = [:]) {
            self.init(Double(value), labels: labels)
        }
    }

    /// The metric's name, `[a-zA-Z_:][a-zA-Z0-9_:]*`, e.g. `capstan_apiserver_objects`.
    public var name: String
    public var help: String
    public var kind: Kind
    public var samples: [Sample]

    public init(_ name: String, _ kind: Kind, help: String, samples: [Sample]) {
        self.name = name
        self.kind = kind
        self.help = help
        self.samples = samples
    }

    /// A family of one unlabelled sample.
    public init(_ name: String, _ kind: Kind, help: String, value: Double) {
        self.init(name, kind, help: help, samples: [Sample(value)])
    }
}
