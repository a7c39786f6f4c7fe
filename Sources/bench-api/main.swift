// bench-api: the API server against etcd and nghttpd, side by side in one run (`make bench-api`).
//
//   - Get of a 1 KiB pod under h2load -c16 -m64 (Pods/Get) against etcd Range of a 1 KiB value
//     and nghttpd serving our response bytes statically (GetBench.swift);
//   - durable pod creates against etcd Put (CreateBench.swift);
//   - the client CPU of a pod create through CapstanClient against raw bytes (ClientBench.swift);
//   - List of 10,000 pods against etcd's paged Range (ListBench.swift);
//   - watch fan-out, 10,000 watchers × 100 changes, against etcd's watch (WatchBench.swift);
//   - RSS with 150,000 pods stored (MemoryBench.swift).
//
// The API server is `capstan apiserver` on the embedded SQLite store, a child process (its RSS is
// its own; h2load, the server and this client share the machine's cores as they would). etcd is
// one member with default durability (CapstanEtcdLauncher). The closing table is printed and
// written to `--output` (default .build-bench/bench-api.txt). Run from the repository root:
//
//     make bench-api     (or: swift build -c release --product capstan; swift build -c release
//                         --product bench-api; .build/release/bench-api — one product per build)
//     .build/release/bench-api
//         [--get-seconds 8] [--get-rounds 2] [--create-seconds 4] [--create-rounds 2] [--create-writers 16]
//         [--list-pods 10000] [--watchers 10000] [--watch-connections 100] [--watch-changes 100]
//         [--etcd-watchers-per-stream 100]
//         [--stored-pods 150000] [--fill-seconds 360] [--capstan PATH] [--output PATH] [--directory DIR]
//         [--only get,creates,client,list,watch,memory]
import CapstanAllocator
import CapstanAPI
import CapstanBenchSupport
import CapstanEtcdLauncher
import CapstanHTTP2
import CapstanRPC
import Foundation

let options: Options
do {
    options = try Options(arguments: CommandLine.arguments)
} catch {
    print("bench-api: \(error)")
    exit(2)
}
for tool in ["/usr/bin/h2load", "/usr/sbin/nghttpd", EtcdMemberPath.etcd, options.capstan, options.h2loadScript]
where !FileManager.default.fileExists(atPath: tool) {
    print("bench-api: \(tool) is missing (make bench-api installs nghttp2-client, nghttp2-server and etcd-server, and builds capstan)")
    exit(2)
}
raiseOpenFileLimit()
let runStart = ContinuousClock.now
let work = options.directory + "/bench-api-\(UUID().uuidString)"
try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
let dataDirectory = work + "/data"
let machine = "\(ProcessInfo.processInfo.activeProcessorCount) cores, load \(String(format: "%.1f", loadAverage()))"
// The client allocates as a Capstan daemon's does (the capstan executable links the same allocator).
let allocator = Allocator.summary
print("bench-api: \(machine); client memory: \(allocator); work directory \(work)")

var report = Report()
/// Whether a part failed: the work directory (server logs) is then kept.
var failed = false
let cluster = try await EtcdCluster.start(members: 1)
var server = try await APIServerProcess.start(
    executable: options.capstan, dataDirectory: dataDirectory, logPath: work + "/apiserver.log")
print("bench-api: capstan apiserver on \(server.address) (pid \(server.child.processIdentifier)), etcd on \(cluster.clientAddresses[0]) (\(try await etcdVersion()))")
let group = try EventLoopGroup()
let apiTransport = try HTTP2ClientTransport(targets: [server.address], group: group)
var etcdConfiguration = HTTP2ClientTransport.Configuration()
etcdConfiguration.maxReceiveMessageSize = 64 << 20
let etcdTransport = try HTTP2ClientTransport(targets: cluster.clientAddresses, configuration: etcdConfiguration, group: group)
let bench = Bench(
    options: options, work: work, apiAddress: server.address, apiTransport: apiTransport,
    pods: Pods.Client(RPCClient(transport: apiTransport)), etcdAddress: cluster.clientAddresses[0], etcdTransport: etcdTransport,
    kv: Etcdserverpb_KV.Client(RPCClient(transport: etcdTransport)), group: group, podsCreated: Tally())

/// Runs one part; a failure is noted in the report and the run goes on.
@MainActor func phase(_ name: String, _ body: () async throws -> PhaseResult) async {
    guard options.parts.contains(name.split(separator: " ")[0].lowercased()) else { return }
    print("\n== \(name)")
    fflush(nil)
    let start = ContinuousClock.now
    do {
        report.add(try await body())
    } catch {
        print("bench-api: \(name) failed: \(error)")
        failed = true
        report.add(PhaseResult(notes: ["\(name) failed: \(error)"]))
    }
    print(String(format: "   (%.0f s)", (ContinuousClock.now - start).seconds))
}

await phase("Get") { try await benchGet(bench) }
await phase("Creates") { try await benchCreates(bench) }
await phase("Client") { try await benchClient(bench) }
await phase("List") { try await benchList(bench) }
let serverPID = server.child.processIdentifier
let etcdPID = cluster.members[0].processIdentifier
await phase("Watch fan-out") { try await benchWatch(bench, serverPID: serverPID, etcdPID: etcdPID) }
await phase("Memory") {
    let (result, restarted) = try await benchMemory(bench, server: server, logDirectory: work, dataDirectory: dataDirectory)
    server = restarted
    return result
}

await server.child.stop()
await apiTransport.close()
await etcdTransport.close()
await group.shutdown()
await cluster.shutdown()
if failed {
    print("bench-api: a part failed; logs kept in \(work)")
} else {
    try? FileManager.default.removeItem(atPath: work)
}

let header = """
    bench-api \(ISO8601DateFormatter().string(from: Date())): capstan apiserver (SQLite, child process) vs etcd 1 member \
    (fsync on) and nghttpd; \(machine) at start; allocator \(allocator); \
    run took \(String(format: "%.0f", (ContinuousClock.now - runStart).seconds)) s
    """
let table = report.render(header: header)
print("\n" + table)
let outputURL = URL(fileURLWithPath: options.output)
try? FileManager.default.createDirectory(at: outputURL.deletingLastPathComponent(), withIntermediateDirectories: true)
try table.write(to: outputURL, atomically: true, encoding: .utf8)
print("bench-api: written to \(options.output)")

/// The 1-minute load average.
func loadAverage() -> Double {
    guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return 0 }
    return Double(text.split(separator: " ").first ?? "") ?? 0
}

enum EtcdMemberPath {
    static let etcd = "/usr/bin/etcd"
}
