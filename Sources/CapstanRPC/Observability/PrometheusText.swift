import CapstanAPI

/// Renders method metrics in Prometheus' text exposition format 0.0.4: one `# HELP` and
/// `# TYPE` line per family, samples labelled `service` and `method` (and `code`, `le`), label
/// values escaped (`\\`, `\"`, `\n`), histogram buckets cumulative with `_sum` and `_count`.
enum PrometheusText {
    /// The `Content-Type` of the format.
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    static let callsTotal = "capstan_rpc_server_calls_total"
    static let inFlight = "capstan_rpc_server_calls_in_flight"
    static let duration = "capstan_rpc_server_call_duration_seconds"
    static let received = "capstan_rpc_server_messages_received_total"
    static let sent = "capstan_rpc_server_messages_sent_total"

    static func render(_ methods: [MethodMetrics]) -> String {
        var out = ""
        out.reserveCapacity(256 + methods.count * 2048)

        family(&out, callsTotal, "counter", "Finished RPC calls by method and gRPC status code.")
        for m in methods {
            for code in m.codes {
                sample(&out, callsTotal, labels(m, extra: ("code", code.code)), String(code.count))
            }
        }

        family(&out, inFlight, "gauge", "RPC calls running now.")
        for m in methods {
            sample(&out, inFlight, labels(m), String(m.inFlight))
        }

        family(&out, duration, "histogram", "Latency of finished RPC calls, handler chain start to end.")
        for m in methods {
            for (index, bucket) in m.latencyBuckets.enumerated() where index < LatencyBuckets.labels.count {
                sample(&out, duration + "_bucket", labels(m, extra: ("le", LatencyBuckets.labels[index])),
                       String(bucket.cumulativeCount))
            }
            sample(&out, duration + "_sum", labels(m), number(m.latencySumSeconds))
            sample(&out, duration + "_count", labels(m), String(m.calls))
        }

        family(&out, received, "counter", "Request messages read by the handlers of finished RPC calls.")
        for m in methods {
            sample(&out, received, labels(m), String(m.messagesReceived))
        }

        family(&out, sent, "counter", "Response messages sent by finished RPC calls.")
        for m in methods {
            sample(&out, sent, labels(m), String(m.messagesSent))
        }
        return out
    }

    /// Collected families: HELP and TYPE, then each sample with its labels sorted by name.
    static func render(_ families: [MetricFamily]) -> String {
        var out = ""
        for family in families {
            self.family(&out, family.name, family.kind.rawValue, family.help)
            for sample in family.samples {
                var labels = ""
                if !sample.labels.isEmpty {
                    labels = "{" + sample.labels.sorted { $0.key < $1.key }
                        .map { "\($0.key)=\"\(escapeLabel($0.value))\"" }.joined(separator: ",") + "}"
                }
                self.sample(&out, family.name, labels, number(sample.value))
            }
        }
        return out
    }

    private static func family(_ out: inout String, _ name: String, _ type: String, _ help: String) {
        out += "# HELP \(name) \(escapeHelp(help))\n# TYPE \(name) \(type)\n"
    }

    private static func sample(_ out: inout String, _ name: String, _ labels: String, _ value: String) {
        out += name
        out += labels
        out += " "
        out += value
        out += "\n"
    }

    private static func labels(_ m: MethodMetrics, extra: (String, String)? = nil) -> String {
        var text = "{service=\"\(escapeLabel(m.service))\",method=\"\(escapeLabel(m.method))\""
        if let (name, value) = extra { text += ",\(name)=\"\(escapeLabel(value))\"" }
        return text + "}"
    }

    /// A sample value: Go's float syntax (Swift's shortest round-trip form is a subset); a
    /// whole number below 2^53 without its `.0`, as Prometheus' own clients print counts.
    private static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Inf" : "+Inf" }
        if value == value.rounded(), abs(value) < 9_007_199_254_740_992 { return String(Int64(value)) }
        return "\(value)"
    }

    /// Label values escape backslash, double quote and line feed.
    static func escapeLabel(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\n") })
        else { return value }
        var escaped = ""
        for character in value.unicodeScalars {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }

    /// HELP text escapes backslash and line feed.
    static func escapeHelp(_ value: String) -> String {
        value.replacing("\\", with: "\\\\").replacing("\n", with: "\\n")
    }
}
