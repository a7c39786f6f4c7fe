/// # CapstanStore
///
/// Capstan's storage layer: the `Store` interface every backend implements, `SQLiteStore`, the
/// embedded default, and `EtcdStore`, for an etcd v3 cluster.
///
/// ## Shape
/// - **Interface** (`Store`, `StoreError`, `KeyValue`, `ListResult`, `WatchEvent`, `WatchStream`):
///   etcd v3 semantics. One global revision counter, increased by every write; each key carries its
///   create and mod revisions and an optional lease. Writes are compare-and-swap on the mod revision,
///   and a create or update can also require other keys to be unchanged (the API server binds a pod
///   only while its minion exists: one transaction, no window for the minion's delete);
///   a paged list reads every page at the revision of the first one; a watch delivers every change
///   after a revision, in order, exactly once, then follows live; compaction forgets history older
///   than a revision; leases delete their keys when they expire or are revoked.
/// - **SQLite backend** (`SQLiteStore`): one append-only log table, one row per revision (k3s kine's
///   shape: `id` = revision, `name`, `created`, `deleted`, `create_revision`, `prev_revision`,
///   `lease`, `value`). The state at revision R is, per name, the newest row with `id <= R` unless it
///   is a tombstone, so every revision's listing is a query and no long read transaction is needed.
///   One index by name, unique on `(name, prev_revision)`, serves every lookup and forbids two
///   writes following the same row (`Schema`).
///   - One **writer thread** owns the only write connection. Callers enqueue writes and suspend; the
///     writer takes every pending write, applies each with its check in order inside one transaction,
///     commits once (WAL, `synchronous=FULL`), publishes the batch to watchers and only then resumes
///     the callers (group commit). Optionally (`groupCommitWait`, off by default), when the last
///     batch held several callers' writes and fewer are pending, it first waits briefly for about as
///     many (never for a lone writer): fewer commits, less CPU per write, more latency. Lease expiry
///     and compaction steps run on the same thread between batches, each its own short transaction.
///     The writer's WAL writes go through `WALWriteBuffer` (`walWriteBufferBytes`, 0 turns it off),
///     a VFS over the configured one that gathers a commit's frames into one write made at the
///     commit's fsync (SQLite would make two per page); durability is unchanged.
///   - **Page cache**: SQLite's own, wrapped (`PageCache`, C target `CSQLitePageCache`) so that the
///     temporary page number a B-tree balance swaps pages through does not make every later commit
///     walk the whole cache; installed once per process, before SQLite initializes.
///   - **Reader threads**, each with its own connection, serve get, list and watch history from WAL
///     snapshots; SQLite's blocking calls never run on Swift's cooperative pool.
///   - **Watch hub**: committed batches fan out in memory to live watchers. A watcher first reads the
///     history it asked for from the table, chunk by chunk as its consumer pulls, and joins the hub
///     only when it has read up to the last published revision (checked under the hub's lock), so
///     there is no gap and no duplicate at the seam. Each watcher's queue is bounded: one that falls
///     behind leaves the hub and reads what it missed from the table again.
///   - **Checkpoints** run on a thread of their own (`WALMonitor`): SQLite's automatic checkpoint,
///     which copies the WAL into the database file and syncs it inside a COMMIT, is off on the write
///     connection; a background connection copies the WAL (PASSIVE) once it passes
///     `checkpointPages`; at `walLimitPages` the writer copies the last few commits' frames itself
///     between batches, so the WAL starts over.
///   - **Compaction** removes rows superseded at or before the compaction revision, in small steps;
///     a background policy keeps a retention window (revisions and time).
///   - **Write failures** (a full disk, `maxDatabaseBytes` reached, an I/O error on write or fsync):
///     the batch rolls back and each of its writers gets `unavailable` saying why; nothing of it is
///     published and the next batch reuses its revisions. After a failed COMMIT, whose frames may
///     linger in the WAL for recovery to find, the writer first commits a tiny *seal* transaction
///     that overwrites them, and only then answers "nothing was written"; while a seal fails,
///     batches fail unwritten, and the store resumes by itself when the fault clears.
///   - **Safety on open**: an exclusive `flock` on `LOCK` in the data directory (the error names the
///     holder's pid), `PRAGMA quick_check`, and clear errors for files that are not databases,
///     corrupt, or unreadable. `close()` returns once every connection is closed (each connection
///     finalizes all its statements first, so SQLite never keeps one open past its close).
///   - **Head mark** (`HeadMark`, `store.db-head`): the checkpointer thread records the last
///     committed revision outside the database at most once a second; an open that finds the store
///     behind it (its WAL deleted, truncated or damaged: SQLite would drop those commits silently)
///     refuses with what to do.
///   - **Backup and restore** (`SQLiteBackup`): `VACUUM INTO` a new file on a connection of its own
///     (one revision, while the server runs); a restore drops the history and moves the revision
///     up, with everything before it compacted, as etcd's restore for Kubernetes does.
///
/// - **etcd backend** (`EtcdStore`, `Etcd/`): the same semantics on etcd v3 through `CapstanRPC`'s
///   generated clients over `CapstanHTTP2` (several endpoints, failover). Reads are linearizable
///   Range calls (a paged list reads at the first page's revision); each write is one `Txn` whose
///   guard is the store's check (`create_revision == 0`, `mod_revision == expected`, one
///   `mod_revision` compare per other key required) and whose failure branch reads every key
///   compared, so conflicts carry the current revision; updates keep the lease (`ignore_lease`).
///   A watch is its own bidirectional `Watch` stream, pulled by its consumer, asked from
///   `fromRevision` itself (so etcd's compaction check is the store's) and resumed from
///   the last delivered revision on another member when a stream breaks. Leases share one
///   `LeaseKeepAlive` stream. Every request has a deadline kept by one ticking task; a write runs
///   in its own task (a cancelled caller does not abandon it), a read in the caller's task (made
///   again in its own task if the caller is cancelled); reads and keep-alives are retried, writes
///   never. Transport failures become `unavailable`; `EtcdErrors` is the one mapping table.
///
/// Only `SQLite/Connection.swift`, `SQLite/Statement.swift`, `SQLite/WALWriteBuffer.swift` and `System/*`
/// touch pointers.
