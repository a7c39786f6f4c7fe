import CapstanStore
import CapstanStoreTorture
import Testing

/// A store's history of `StoreTorture` writes, checked against the writes the torture load had
/// acknowledged (the SQLite and etcd kill tests share this check): no value is torn, every key's
/// history chains (a create follows nothing or a delete; an update or delete follows a put of the
/// same incarnation), and every acknowledged write is there at its revision with its value.
struct TortureHistory {
    /// Each event by its revision.
    private(set) var byRevision: [Int64: WatchEvent] = [:]
    /// Each key's last event.
    private(set) var latest: [String: WatchEvent] = [:]

    /// Records any failed check as an issue, each message starting with `label`.
    init(
        _ events: [WatchEvent], acknowledged: [StoreTorture.Record], label: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        var torn = 0
        var broken = 0
        for event in events {
            byRevision[event.revision] = event
            let key = event.entry.key
            let value = event.kind == .put ? event.entry.value : event.prevValue ?? []
            if !StoreTorture.isComplete(value, key: key) { torn += 1 }
            let previous = latest[key]
            if event.isCreate {
                if let previous, previous.kind != .delete { broken += 1 }
            } else if previous?.kind != .put || previous?.entry.createRevision != event.entry.createRevision {
                broken += 1
            }
            latest[key] = event
        }
        #expect(torn == 0, "\(label): values that are not complete writes", sourceLocation: sourceLocation)
        #expect(broken == 0, "\(label): writes that do not chain", sourceLocation: sourceLocation)

        var missing: [StoreTorture.Record] = []
        for record in acknowledged {
            guard let event = byRevision[record.revision], event.entry.key == record.key else {
                missing.append(record)
                continue
            }
            switch record.kind {
            case .put where event.kind != .put || StoreTorture.hash(event.entry.value) != record.hash: missing.append(record)
            case .delete where event.kind != .delete: missing.append(record)
            default: break
            }
        }
        #expect(
            missing.isEmpty,
            "\(label): \(missing.count) of \(acknowledged.count) acknowledged writes lost, e.g. \(missing.prefix(3))",
            sourceLocation: sourceLocation)
    }

    /// The keys that exist at the end of the history, sorted.
    var liveKeys: [String] { latest.values.filter { $0.kind == .put }.map(\.entry.key).sorted() }
}
