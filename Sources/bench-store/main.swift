// Throughput of the SQLite store with 1 KiB values, durable (WAL, synchronous=FULL) on the disk
// holding the data directory:
// creates/s with 1, 16 and 64 concurrent writers, updates/s, gets/s, and watch deliveries/s.
// Then the same through `EtcdStore` against a one-member etcd (fsync on, data in a temporary
// directory), next to raw etcd Put/Range through the generated client under the same load: see
// `Etcd.swift`. `--no-etcd` skips that part.
//
//     swift build -c release --product bench-store && .build/release/bench-store [--seconds N] [--rounds N]
//         [--directory DIR] [--no-etcd | --only-etcd] [--etcd-cases creates,updates,gets,watch] [--autocheckpoint]
//         [--writers 1,16,64] [--sqlite-cases creates,batches,reads,watch] [--wal-buffer BYTES]
//
// Each SQLite creates case also reports CPU per write: this process's (user + system, callers'
// tasks included) and the store's writer thread's alone, and writes per commit (per WAL fsync).
// `--writers` picks the creates cases, `--sqlite-cases` the SQLite parts (for `perf` on one case).
// The `batches` case is the writer's fixed cost per group commit without I/O: one caller making
// empty writes (`compact` to the current compaction revision), each its own batch, an empty
// transaction (BEGIN IMMEDIATE, COMMIT) that writes and syncs nothing.
// `--operations N` makes each creates case N creates instead (a fixed amount of work, e.g. for `strace -f -c`).
// `--wal-buffer` sets `SQLiteStoreOptions.walWriteBufferBytes` (0: SQLite writes each WAL frame itself).
//
// `--etcd-cases` runs only the named etcd cases (all by default), e.g. `--only-etcd --etcd-cases gets`
// to profile the read path alone (`perf record -g -p PID`). `raw-gets` and `store-gets` each make
// `--operations N` (default 20000) gets through one path only, for instruction counts under valgrind.
//
// `--autocheckpoint` lets SQLite checkpoint inside commits (its default) instead of the store's
// background checkpointer, for comparison.
import CapstanBenchSupport
import CapstanStore
import Foundation
import Synchronization

let arguments = CommandLine.arguments
func option(_ name: String) -> String? {
    arguments.firstIndex(of: name).flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil }
}
let usage = """
    usage: bench-store [--seconds N] [--rounds N] [--directory DIR] [--no-etcd | --only-etcd]
                       [--etcd-cases creates,updates,gets,watch,raw-gets,store-gets] [--operations N] [--autocheckpoint]
                       [--writers 1,16,64] [--sqlite-cases creates,batches,reads,watch] [--wal-buffer BYTES]
    """
do {
    let valued: Set<String> = [
        "--seconds", "--rounds", "--etcd-cases", "--operations", "--directory", "--writers", "--sqlite-cases", "--wal-buffer",
    ]
    let flags: Set<String> = ["--no-etcd", "--only-etcd", "--autocheckpoint"]
    var index = 1
    while index < arguments.count {
        let argument = arguments[index]
        if argument == "--help" || argument == "-h" {
            print(usage)
            exit(0)
        } else if valued.contains(argument), index + 1 < arguments.count {
            index += 2
        } else if flags.contains(argument) {
            index += 1
        } else {
            print("bench-store: unknown or incomplete argument \"\(argument)\"\n\(usage)")
            exit(2)
        }
    }
}
let seconds = Double(option("--seconds") ?? "") ?? 3
/// Rounds of the etcd comparisons (each case's best round counts).
let rounds = max(1, Int(option("--rounds") ?? "") ?? 3)
/// The etcd cases to run.
let etcdCases = Set((option("--etcd-cases") ?? "creates,updates,gets,watch").split(separator: ",").map(String.init))
if let unknown = etcdCases.subtracting(["creates", "updates", "gets", "watch", "raw-gets", "store-gets"]).first {
    print("bench-store: unknown etcd case \"\(unknown)\" (known: creates, updates, gets, watch, raw-gets, store-gets)")
    exit(2)
}
/// The SQLite parts to run, and the writer counts of its creates cases.
let sqliteCases = Set((option("--sqlite-cases") ?? "creates,batches,reads,watch").split(separator: ",").map(String.init))
if let unknown = sqliteCases.subtracting(["creates", "batches", "reads", "watch"]).first {
    print("bench-store: unknown SQLite case \"\(unknown)\" (known: creates, batches, reads, watch)")
    exit(2)
}
let writerCounts = (option("--writers") ?? "1,16,64").split(separator: ",").map { Int($0) ?? 0 }
if writerCounts.contains(where: { $0 < 1 || $0 > 4096 }) {
    print("bench-store: --writers takes a comma-separated list of writer counts from 1 to 4096")
    exit(2)
}
/// Gets made by the `raw-gets` and `store-gets` cases.
let fixedOperations = max(1, Int(option("--operations") ?? "") ?? 20000)
let parent = option("--directory") ?? FileManager.default.temporaryDirectory.path
let value = [UInt8](repeating: 0x5a, count: 1024)

func withStore<T>(_ body: (SQLiteStore) async throws -> T) async throws -> T {
    let directory = parent + "/bench-store-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var options = SQLiteStoreOptions()
    options.retention = nil
    if arguments.contains("--autocheckpoint") { options.checkpointPages = nil }
    if let bytes = option("--wal-buffer").flatMap({ Int($0) }) { options.walWriteBufferBytes = bytes }
    let store = try await SQLiteStore.open(directory: directory, options: options)
    do {
        let result = try await body(store)
        await store.close()
        return result
    } catch {
        await store.close()
        throw error
    }
}

func report(_ name: String, _ rate: Double, _ note: String = "") {
    let padded = name.padding(toLength: 42, withPad: " ", startingAt: 0)
    print("\(padded) \(String(format: "%10.0f", rate)) /s  \(note)")
}

/// Writes per commit, mean and longest COMMIT, and background checkpoints.
func commitNote(_ statistics: SQLiteStoreStatistics) -> String {
    let commits = Double(max(1, statistics.writeTransactions))
    return String(
        format: "(%.1f writes/commit, commit %.2f ms mean %.0f ms max; %d checkpoints %.0f ms after %d wake-ups, %d by the writer %.0f ms, WAL ≤ %d pages)",
        Double(statistics.writesCompleted) / commits, Double(statistics.commitNanoseconds) / commits / 1e6,
        Double(statistics.slowestCommitNanoseconds) / 1e6, statistics.checkpoints,
        Double(statistics.checkpointNanoseconds) / 1e6, statistics.checkpointerWakeups, statistics.limitCheckpoints,
        Double(statistics.limitCheckpointNanoseconds) / 1e6, statistics.largestWALFrames)
}

let checkpointMode = arguments.contains("--autocheckpoint") ? "SQLite's automatic checkpoints" : "background checkpoints"
let walBuffer = option("--wal-buffer").flatMap { Int($0) } ?? SQLiteStoreOptions().walWriteBufferBytes
print("bench-store: 1 KiB values, \(seconds) s per case, data under \(parent), \(checkpointMode), WAL write buffer \(walBuffer) bytes")
/// This process's user and system CPU time so far, in seconds.
func processUserAndSystemCPU() -> (user: Double, system: Double) {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return (
        Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6,
        Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    )
}

/// CPU per write of a run of creates: this process's (user + system) and the writer thread's, from
/// statistics and process CPU taken before and after it.
func cpuNote(
    before: SQLiteStoreStatistics, after: SQLiteStoreStatistics, cpuBefore: (user: Double, system: Double),
    cpuAfter: (user: Double, system: Double)
) -> String {
    let writes = Double(max(1, after.writesCompleted - before.writesCompleted))
    let commits = Double(max(1, after.writeTransactions - before.writeTransactions))
    let user = (cpuAfter.user - cpuBefore.user) * 1e6 / writes
    let system = (cpuAfter.system - cpuBefore.system) * 1e6 / writes
    return String(
        format: "CPU per write: process %.1f µs (user %.1f, system %.1f), writer thread %.1f µs; %.1f writes per commit (fsync)",
        user + system, user, system, Double(after.writerCPUNanoseconds - before.writerCPUNanoseconds) / writes / 1e3,
        writes / commits)
}

/// With `--operations`, each creates case makes that many creates instead of running for `--seconds`
/// (a fixed amount of work, e.g. for system call counts with `strace -f -c`).
let createLimit = option("--operations") == nil ? Int.max : fixedOperations
let createSeconds = option("--operations") == nil ? seconds : 3600

for writers in writerCounts where !arguments.contains("--only-etcd") && sqliteCases.contains("creates") {
    let (rate, statistics, note) = try await withStore { store in
        let before = store.statistics
        let cpu = processUserAndSystemCPU()
        let rate = try await measure(workers: writers, seconds: createSeconds, limit: createLimit) { worker, iteration in
            _ = try await store.create("/bench/w\(worker)/\(iteration)", value: value)
        }
        let cpuAfter = processUserAndSystemCPU()
        let after = store.statistics
        return (rate, after, cpuNote(before: before, after: after, cpuBefore: cpu, cpuAfter: cpuAfter))
    }
    report("creates, \(writers) writers", rate, commitNote(statistics))
    print("    \(note)")
}

if !arguments.contains("--only-etcd") && sqliteCases.contains("batches") {
    let (rate, note) = try await withStore { store in
        let before = store.statistics
        let cpu = processUserAndSystemCPU()
        let rate = try await measure(workers: 1, seconds: createSeconds, limit: createLimit) { _, _ in
            try await store.compact(0)
        }
        let cpuAfter = processUserAndSystemCPU()
        return (rate, cpuNote(before: before, after: store.statistics, cpuBefore: cpu, cpuAfter: cpuAfter))
    }
    report("empty batches (no I/O), 1 writer", rate)
    print("    \(note)")
}

if !arguments.contains("--only-etcd") && sqliteCases.contains("reads") {
    try await withStore { store in
        let keys = 1000
        for index in 0..<keys { _ = try await store.create("/bench/k\(index)", value: value) }
        let updates = try await measure(workers: 16, seconds: seconds) { worker, iteration in
            _ = try await store.update("/bench/k\((worker * 61 + iteration) % keys)", value: value, expectedRevision: 0)
        }
        report("updates, 16 writers", updates)
        let gets = try await measure(workers: 16, seconds: seconds) { worker, iteration in
            _ = try await store.get("/bench/k\((worker * 61 + iteration) % keys)")
        }
        report("gets, 16 readers", gets)
        let list = try await measure(workers: 2, seconds: seconds) { _, _ in
            _ = try await store.list(prefix: "/bench/", after: nil, limit: 500)
        }
        report("lists of 500 keys, 2 readers", list)
    }

}
if !arguments.contains("--only-etcd") && sqliteCases.contains("watch") {
    // Watch: 4 watchers follow 64 writers live.
    try await withStore { store in
        let (deliveries, writes) = try await watchDeliveries(store, prefix: "/bench/", writers: 64)
        report("watch deliveries, 4 live watchers", deliveries, String(format: "(%.0f writes/s being watched)", writes))

        // History: one watcher reads the whole log from revision 0.
        let head = try await store.currentRevision()
        let historyStart = ContinuousClock.now
        var count = 0
        for try await event in try await store.watch(prefix: "/bench/", fromRevision: 0) {
            count += 1
            if event.revision >= head { break }
        }
        let historyElapsed = ContinuousClock.now - historyStart
        report(
            "watch deliveries, history replay", Double(count) / historyElapsed.seconds,
            "(\(count) events)")
    }
}

/// Watch deliveries/s (events received by all of 4 watchers) while `writers` writers create keys
/// under `prefix` for `seconds`, and the writes/s being watched.
func watchDeliveries(_ store: any Store, prefix: String, writers: Int) async throws -> (deliveries: Double, writes: Double) {
    let watchers = 4
    let delivered = Counter()
    let start = try await store.currentRevision()
    var consumers: [Task<Void, any Error>] = []
    for _ in 0..<watchers {
        let stream = try await store.watch(prefix: prefix, fromRevision: start)
        consumers.append(
            Task {
                for try await event in stream {
                    delivered.value.add(1, ordering: .relaxed)
                    if event.entry.key == prefix + "end" { break }
                }
            })
    }
    let clock = ContinuousClock.now
    let writes = try await measure(workers: writers, seconds: seconds) { worker, iteration in
        _ = try await store.create(prefix + "w\(worker)/\(iteration)", value: value)
    }
    _ = try await store.create(prefix + "end", value: [])
    for consumer in consumers { try await consumer.value }
    let elapsed = ContinuousClock.now - clock
    return (Double(delivered.value.load(ordering: .relaxed)) / elapsed.seconds, writes)
}

if !arguments.contains("--no-etcd") {
    try await benchEtcd()
}
