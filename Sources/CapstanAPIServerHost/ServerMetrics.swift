import CapstanAPI
import CapstanAPIServer
import CapstanHTTP2
import CapstanRPC
import CapstanStore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The state an operator watches beside the call metrics, added to them as collectors (read at
/// each scrape or `Metrics/Get`): the build, whether the server is `SERVING`, its connections,
/// what its watch caches hold, its store's work (SQLite: commits and their time, checkpoints,
/// file sizes; etcd: retries and watch resumes) and the process (`ProcessMetrics`).
enum ServerMetrics {
    static func install(
        on metrics: RPCMetrics, api: APIServer, health: HealthService, store: any Store,
        transport: HTTP2ServerTransport
    ) {
        metrics.addCollector {
            [
                MetricFamily(
                    "capstan_build_info", .gauge, help: "Always 1; the version label names the build.",
                    samples: [MetricFamily.Sample(1, labels: ["version": CapstanVersion.current])]),
                MetricFamily(
                    "capstan_apiserver_serving", .gauge,
                    help: "1 while the server's health is SERVING (its caches hold the store and the store passes its probe), else 0.",
                    value: health.status(for: "") == .serving ? 1 : 0),
                MetricFamily(
                    "capstan_rpc_server_connections", .gauge, help: "HTTP/2 connections open now.",
                    value: Double(transport.connectionCount)),
            ] + api.stateMetrics()
        }
        if let sqlite = store as? SQLiteStore {
            metrics.addCollector { sqliteFamilies(sqlite) }
        } else if let etcd = store as? EtcdStore {
            metrics.addCollector { etcdFamilies(etcd) }
        }
        metrics.addCollector(ProcessMetrics.collector)
    }

    static func sqliteFamilies(_ store: SQLiteStore) -> [MetricFamily] {
        let statistics = store.statistics
        let database = SQLiteStore.databasePath(directory: store.directory)
        var files: [MetricFamily.Sample] = []
        for (label, path) in [("store.db", database), ("store.db-wal", database + "-wal")] {
            if let size = fileSize(path) { files.append(MetricFamily.Sample(size, labels: ["file": label])) }
        }
        func seconds(_ nanoseconds: Int) -> Double { Double(nanoseconds) / 1e9 }
        return [
            counter("capstan_sqlite_commits_total", "Group commits of writes (each one WAL sync).", statistics.writeTransactions),
            counter(
                "capstan_sqlite_writes_total", "Writes answered by the writer, failed checks such as conflicts included.",
                statistics.writesCompleted),
            counter(
                "capstan_sqlite_commit_seconds_total", "Time spent committing group commits (writing and syncing the WAL).",
                seconds(statistics.commitNanoseconds)),
            MetricFamily(
                "capstan_sqlite_slowest_commit_seconds", .gauge, help: "The longest group commit since the start.",
                value: seconds(statistics.slowestCommitNanoseconds)),
            counter("capstan_sqlite_writer_cpu_seconds_total", "CPU time of the writer thread.", seconds(statistics.writerCPUNanoseconds)),
            counter(
                "capstan_sqlite_failed_commits_total",
                "Commits that failed and were sealed (their writes failed; see the disk's health).", statistics.seals),
            counter(
                "capstan_sqlite_checkpoints_total", "WAL checkpoints run, background and at the WAL's limit.",
                statistics.checkpoints + statistics.limitCheckpoints),
            counter(
                "capstan_sqlite_checkpoint_failures_total", "Background checkpoints that failed (and were retried).",
                statistics.checkpointFailures),
            counter(
                "capstan_sqlite_checkpoint_seconds_total", "Time spent in WAL checkpoints.",
                seconds(statistics.checkpointNanoseconds + statistics.limitCheckpointNanoseconds)),
            counter(
                "capstan_sqlite_compacted_rows_total", "Replaced versions and deletions removed from the history.",
                statistics.compactedRows),
            MetricFamily(
                "capstan_sqlite_wal_frames", .gauge, help: "Pages in the WAL after the last commit.",
                value: Double(statistics.walFrames)),
            MetricFamily("capstan_sqlite_file_bytes", .gauge, help: "Size of the store's files on disk.", samples: files),
        ]
    }

    static func etcdFamilies(_ store: EtcdStore) -> [MetricFamily] {
        let statistics = store.statistics
        return [
            counter(
                "capstan_etcd_retries_total", "etcd reads and lease keep-alives sent again after a failure.",
                statistics.retries),
            counter(
                "capstan_etcd_watch_resumes_total", "etcd watch streams established again after a broken stream or connection.",
                statistics.watchResumes),
        ]
    }

    /// A counter family of one unlabelled sample.
    private static func counter(_ name: String, _ help: String, _ value: Double) -> MetricFamily {
        MetricFamily(name, .counter, help: help, value: value)
    }

    private static func counter(_ name: String, _ help: String, _ value: Int) -> MetricFamily {
        counter(name, help, Double(value))
    }

    /// The size of the file at `path`, or nil if it does not exist.
    private static func fileSize(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int(info.st_size)
    }
}
