import CapstanStore
import Logging

/// Compacts a store that does not compact itself (etcd), as kube-apiserver does: every
/// `interval` it reads the store's revision and compacts to the one it read the time before, so
/// the store keeps at least one interval of history (watches and continue tokens older than that
/// get OUT_OF_RANGE and list again; the watch caches keep their own rings). Without it etcd's
/// database grows with every write until its space quota raises NOSPACE and it refuses writes.
///
/// Several API servers on one etcd each compact; a compaction at or before one already done is
/// no error. A failure (etcd down) is logged once per run of failures and tried again at the next
/// interval, with the revision read last.
struct StoreCompactor: Sendable {
    let store: any Store
    let interval: Duration
    let logger = Logger(label: "capstan.apiserver")

    func run() async {
        var previous: Int64?
        var failing = false
        while !Task.isCancelled {
            guard (try? await Task.sleep(for: interval)) != nil else { return }
            do throws(StoreError) {
                let current = try await store.currentRevision()
                if let previous, previous > 0 {
                    do throws(StoreError) {
                        try await store.compact(previous)
                    } catch .compacted {
                        // Another server compacted further already.
                    }
                    logger.debug("compacted the store", metadata: ["revision": "\(previous)"])
                }
                previous = current
                if failing {
                    failing = false
                    logger.notice("the store can be compacted again")
                }
            } catch {
                if !failing {
                    failing = true
                    logger.warning(
                        "cannot compact the store; trying again every interval", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
