import CapstanStore
import Synchronization

/// Keeps every kind's watch cache in step with the store through one store watch of
/// `/registry/`.
///
/// On start it lists every kind at a revision some way back (`historyRevisions`, or as far as
/// the store's compaction allows) and replays the changes since from the watch, so the event
/// rings hold recent history and watches can resume across an API server restart. It marks the
/// store's current revision as a read floor, so no read is answered from a state older than the
/// store was at start. If the watch falls behind the store's compaction it relists at the current
/// revision (watchers end with OUT_OF_RANGE and list again); if the store fails, watchers end with
/// UNAVAILABLE, reads fail the same way, and the feed retries with backoff (before the caches
/// first listed the store, reads wait for that listing until the store counts as unreachable:
/// see `CacheProgress`). Once the store answers again the caches keep their state and the feed
/// follows the store from the revision they had reached, so watchers resume from theirs and
/// nobody lists again; only if the store compacted past that revision meanwhile, or went back
/// before it (replaced by an older copy), do the caches list it anew.
///
/// A store that went back (etcd restored from a backup) lost the writes after the copy, and
/// later writes reuse their revisions for other changes. Whatever this server holds above the
/// restored head belongs to that lost history and is dropped, so that reads answer the store as
/// it is now instead of waiting (until their timeout) for revisions that will never show those
/// writes: caches past the restored head list it anew (and every mark goes with them); caches at
/// or below it keep their state, which the restored store shares, and only the write mark above
/// it is forgotten (the server may have acknowledged writes the caches had not applied yet when
/// the store went away). Clients holding a revision of the lost history are told to list again
/// (a read-after or watch revision past the store's is OUT_OF_RANGE). A store that went back
/// and then moved past the old head again before the feed looked cannot be told apart by its
/// revision.
///
/// Keys outside `/registry/` (other users of an etcd cluster) advance the store revision without
/// an event here: every head the feed marks as a read floor (at start-up, after a relisting, and
/// when it follows the store again after a failure) is taken from a fence key of its own
/// (`markHead`), a revision its watch delivers.
final class CacheFeed: Sendable {
    let store: any Store
    let caches: [WatchCache]
    let progress: CacheProgress
    /// How many revisions back the first listing starts, to fill the event rings.
    let historyRevisions: Int64
    /// Longest pause between attempts when the store fails.
    let maxBackoff: Duration
    private struct Failures {
        var last: (reason: String, at: ContinuousClock.Instant)?
        /// When the feed last began to follow the store.
        var followingSince: ContinuousClock.Instant?
    }

    /// The feed's latest failure and whether it follows the store since (see `lastFailure`).
    private let failures = Mutex(Failures())

    /// Why the feed last failed to list or follow the store, and when; nil if it never failed or
    /// has followed the store for a second since (or applied changes, which clears it).
    var lastFailure: (reason: String, at: ContinuousClock.Instant)? {
        failures.withLock { failures in
            guard let last = failures.last else { return nil }
            if let since = failures.followingSince, since > last.at, since.duration(to: .now) >= .seconds(1) { return nil }
            return last
        }
    }

    init(store: any Store, caches: [WatchCache], progress: CacheProgress, historyRevisions: Int64, maxBackoff: Duration = .seconds(2)) {
        self.store = store
        self.caches = caches
        self.progress = progress
        self.historyRevisions = historyRevisions
        self.maxBackoff = maxBackoff
    }

    /// Follows the store until the calling task is cancelled.
    func run() async {
        var backoff = Duration.milliseconds(20)
        // The first listing reaches back for history; so does a retry when that history turned
        // out to be compacted before anything was applied.
        var withHistory = true
        var historyFloor: Int64 = 0
        // After a store failure: the revision every cache had applied, to follow on from.
        var resumeFrom: Int64?
        while !Task.isCancelled {
            let started = ContinuousClock.now
            var applied = 0
            var following: ContinuousClock.Instant?
            do throws(StoreError) {
                let start: Int64
                if let revision = resumeFrom, let resumed = try await resume(from: revision) {
                    start = resumed
                } else {
                    // Behind the revision the caches reached: what they told clients is gone too.
                    // Forgotten at once, so that a listing that fails lists again next time rather
                    // than resuming the caches' lost state once the store's head is back past it.
                    if resumeFrom != nil {
                        progress.restart()
                        resumeFrom = nil
                    }
                    start = try await initialize(withHistory: withHistory, floor: historyFloor)
                }
                resumeFrom = nil
                following = .now
                failures.withLock { $0.followingSince = following }
                try await follow(from: start, applied: &applied)
            } catch .compacted(_, let compactedRevision) {
                withHistory = withHistory && applied == 0
                historyFloor = compactedRevision
                resumeFrom = nil
                continue
            } catch {
                if Task.isCancelled { break }
                failures.withLock { $0 = Failures(last: ("\(error)", .now), followingSince: nil) }
                for cache in caches { cache.fail(.store(error)) }
                // Before a listing: reads stop waiting for one once the store counts as unreachable.
                progress.attemptFailed("\(error)", started: started)
                let reached = progress.revision
                if reached >= 0, resumeFrom == nil { resumeFrom = reached }
                // The pause starts short again only after the feed followed the store for a while
                // (or applied changes): a store that lists but fails at once is not hammered.
                if let following, applied > 0 || following.duration(to: .now) >= .seconds(1) {
                    backoff = .milliseconds(20)
                }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, maxBackoff)
            }
            withHistory = false
        }
        for cache in caches { cache.fail(.unavailable(reason: "the API server is shutting down")) }
    }

    /// After a store failure, when the caches hold the store as of `revision`: once the store
    /// answers, marks its head as a read floor (reads wait until the caches caught up), lets
    /// reads and watches in again and returns `revision` to follow from; nil when the store is
    /// now behind `revision` (an older copy replaced it) and must be listed anew. A store behind
    /// the write mark but not behind `revision` went back too: the mark above its head is
    /// forgotten (see the type's documentation) and the head marked afresh.
    ///
    /// The floor is a head the feed will see an event at (`markHead`: on etcd, its fence key);
    /// a store still at `revision` needs none (the caches hold its head), so a failure on a quiet
    /// store writes nothing.
    private func resume(from revision: Int64) async throws(StoreError) -> Int64? {
        var head = try await store.currentRevision()
        let mark = progress.writeMark
        if head < mark {
            // Below this server's acknowledged writes: the store went back (perhaps while it was
            // being read), or those writes landed after the head was read. A second read, begun
            // after every write the mark counts was acknowledged, tells the two apart. (A mark
            // read before the first read would miss a store restored during that read.)
            head = try await store.currentRevision()
        }
        guard head >= revision else { return nil }
        let wentBack = head < mark
        if wentBack { progress.forgetWrites(above: head) }
        // Marked after the mark was lowered: a write the restored store acknowledged since the
        // first read is at or below the new head.
        if wentBack || head > revision {
            // A fence the store refuses (etcd's NOSPACE alarm refuses every write) leaves the
            // plain head: reads may then wait for another program's revision until the next
            // registry write, rather than all fail until the store takes writes again.
            let floor: Int64
            // Every write acknowledged before the fence is below it in a store that did not go
            // back: a fence below them shows a store restored since the head was read (a mark
            // left above the restored head would keep reads waiting until writes climb past it).
            let acknowledged = progress.writeMark
            do {
                floor = try await markHead()
            } catch {
                // That read may have waited through an outage: a store that went back meanwhile
                // is looked at afresh by the next attempt (below), not followed with the mark
                // above it.
                floor = try await store.currentRevision()
            }
            if floor < max(revision, acknowledged) {
                throw .unavailable(
                    reason: "the store's head moved back to \(floor), below what the watch cache or this server's "
                        + "acknowledged writes had reached (\(max(revision, acknowledged))), while the watch cache resumed")
            }
            progress.noteWrite(floor)
        }
        for cache in caches { cache.recover() }
        return revision
    }

    /// The store's head, as a revision the feed will see an event at: every read floor the feed
    /// marks (at start-up, relisting, or resuming after a failure). A store whose revision others
    /// move too (`revisionIsShared`: etcd) may have its head at someone else's write, which the
    /// feed's watch of the registry never delivers: reads waiting for it would wait until the
    /// next registry write, or their timeout. So there the feed writes a fence key of its own
    /// under the registry (no kind's prefix: the caches ignore it) and takes its revision. It
    /// is a write: while etcd refuses writes (a NOSPACE alarm) a start-up or relisting fails and
    /// retries until etcd takes writes again; a resume after a failure takes the plain head.
    private func markHead() async throws(StoreError) -> Int64 {
        try await Self.fencedHead(of: store)
    }

    /// `markHead` for any caller (reads after a write of unknown outcome: `StoreHead`).
    static func fencedHead(of store: any Store) async throws(StoreError) -> Int64 {
        guard store.revisionIsShared else { return try await store.currentRevision() }
        let key = ObjectKeys.registryRoot + Self.fenceKey
        let value = Array("fence".utf8)
        for _ in 0..<16 {
            do throws(StoreError) {
                let current = try await store.get(key)
                return try await store.update(key, value: value, expectedRevision: current.modRevision)
            } catch .notFound {
                do throws(StoreError) {
                    return try await store.create(key, value: value)
                } catch .alreadyExists {
                    continue
                }
            } catch .conflict {
                continue
            }
        }
        throw .unavailable(reason: "the feed's fence key \(key) kept changing under other API servers' writes")
    }

    /// The fence key's name under the registry root (see `markHead`).
    static let fenceKey = "feed-fence"

    /// Lists every kind at one revision and resets the caches to it; returns the revision.
    /// With history it starts `historyRevisions` before the head (not before `floor`); revision 0
    /// is the empty store, which needs no listing.
    private func initialize(withHistory: Bool, floor: Int64) async throws(StoreError) -> Int64 {
        let head = try await markHead()
        progress.noteWrite(head)
        var revision = withHistory ? max(head - historyRevisions, floor, 0) : head
        // etcd starts at revision 1 with no change: a replay from 0 would never reach `head`, so
        // reads would wait for it in vain. At revision 1 the listing itself holds any change.
        if head == 1 { revision = head }
        while true {
            do throws(StoreError) {
                var listings: [[CachedObject]] = []
                for cache in caches {
                    if revision == 0 {
                        listings.append([])
                        continue
                    }
                    let (objects, listed) = try await listAll(cache, revision: revision)
                    listings.append(objects)
                    revision = listed
                }
                for (cache, objects) in zip(caches, listings) { cache.reset(objects: objects, revision: revision) }
                progress.advance(to: revision)
                return revision
            } catch .compacted(_, let compactedRevision) {
                revision = max(compactedRevision, revision + 1)
            }
        }
    }

    /// Every object of `cache`'s kind at `revision` (0: the current one), and the revision listed.
    /// Each page becomes cached objects before the page after the next is read, so the stored
    /// values read (the cached encodings are new arrays with the resource version) are freed page
    /// by page. Freed all at once after the whole listing, they left the heap fragmented around
    /// the keys that live on: a fresh start with 150,000 pods took 508-511 MiB of RSS, now
    /// 350-361 MiB. The next page is read while this one is converted: the store reads on its own
    /// threads (SQLite's readers, etcd), so a start-up uses two cores where it has them.
    private func listAll(_ cache: WatchCache, revision: Int64) async throws(StoreError) -> ([CachedObject], Int64) {
        var objects: [CachedObject] = []
        var page = try await listPage(cache, after: nil, revision: revision).get()
        while true {
            guard let next = page.continueKey else {
                for item in page.items { objects.append(cache.cachedObject(item)) }
                return (objects, page.revision)
            }
            let listed = page.revision
            async let following = listPage(cache, after: next, revision: listed)
            for item in page.items { objects.append(cache.cachedObject(item)) }
            page = try await following.get()
        }
    }

    /// One page of `listAll`, its failure as a value (an `async let` does not keep typed throws).
    private func listPage(_ cache: WatchCache, after key: String?, revision: Int64) async
        -> Result<ListResult, StoreError>
    {
        do throws(StoreError) {
            return .success(try await store.list(prefix: cache.prefix, after: key, limit: 1000, revision: revision))
        } catch {
            return .failure(error)
        }
    }

    /// Most changes taken from the store watch at once.
    static let batchLimit = 512

    /// Applies every change after `revision` until cancelled or the store fails, counting them.
    ///
    /// Takes every change queued at once (one wake-up per batch the store publishes, not one
    /// pass per change), applies each run of one kind's changes under one lock of its cache, and
    /// advances `progress` once the whole batch is applied.
    private func follow(from revision: Int64, applied: inout Int) async throws(StoreError) {
        // The caches hold the store at `revision`: a store set back behind it since the feed
        // looked (a restore while this watch is set up) fails the watch rather than leave the
        // caches waiting for revisions that will not come.
        let stream = try await store.watch(prefix: ObjectKeys.registryRoot, fromReached: revision)
        var changes = stream.makeAsyncIterator()
        while let batch = try await changes.nextBatch(limit: Self.batchLimit) {
            guard let last = batch.last else { continue }
            // The first changes applied since the feed (re)started: it follows the store again.
            if applied == 0 { failures.withLock { $0.last = nil } }
            applied += batch.count
            var start = batch.startIndex
            while start < batch.endIndex {
                let cache = owner(of: batch[start])
                var end = start + 1
                while end < batch.endIndex, owner(of: batch[end]) === cache { end += 1 }
                cache?.apply(batch[start..<end])
                start = end
            }
            progress.advance(to: last.revision)
        }
    }

    /// The cache of the kind `change` belongs to, if any.
    private func owner(of change: WatchEvent) -> WatchCache? {
        caches.first(where: { change.entry.key.hasPrefix($0.prefix) })
    }

    /// Sends periodic bookmarks every `interval` until cancelled.
    func runBookmarks(every interval: Duration) async {
        while !Task.isCancelled {
            guard (try? await Task.sleep(for: interval)) != nil else { return }
            for cache in caches { cache.sendBookmarks() }
        }
    }
}
