// Durable creates: pods through the API (validation, defaults, encoding, a compare-and-swap
// create in SQLite committed with fsync, the watch cache fed) against raw etcd Puts of 1 KiB
// values (fsync on), both with the same number of concurrent callers through the same client
// library, alternating round by round; the best run of each counts. The client encodes each
// request and takes the response as bytes without decoding it (our Create answers the whole pod,
// etcd's Put a small header): the client shares the machine's cores with the servers. Each
// server's CPU time over the phase (from /proc; each is idle while the other is measured)
// divided by the calls it served gives its CPU per call, steadier than rates on a busy machine.
import CapstanAPI
import CapstanBenchSupport
import CapstanRPC
import CapstanWire
import Foundation

func benchCreates(_ bench: Bench) async throws -> PhaseResult {
    let options = bench.options
    let (apiTransport, etcdTransport, tally) = (bench.apiTransport, bench.etcdTransport, bench.podsCreated)
    let template = benchPod(name: "c-00-0000000000", namespace: "creates")
    print("Creates: \(options.createWriters) concurrent callers, \(options.createSeconds) s per run, \(options.createRounds) rounds")
    let (apiServer, etcdServer) = (ChildCPU(commandContaining: " apiserver "), ChildCPU(commandContaining: "etcd"))
    let puts = Tally()
    let podsBefore = tally.count
    let measured = try await alternate(workers: options.createWriters, seconds: options.createSeconds, rounds: options.createRounds, [
        { worker, iteration in
            var put = Etcdserverpb_PutRequest()
            put.key = Array("/creates/w\(worker)/\(iteration)".utf8)
            put.value = etcdValue
            _ = try await rawUnary(etcdTransport, path: "/etcdserverpb.KV/Put", request: put.serializedBytes())
            puts.add()
        },
        { worker, iteration in
            var pod = template
            pod.metadata.name = "c-\(worker)-\(iteration)"
            _ = try await rawUnary(apiTransport, path: "/capstan.v1.Pods/Create", request: pod.serializedBytes())
            tally.add()
        },
    ])
    let apiCPU = apiServer.perCall(tally.count - podsBefore)
    let etcdCPU = etcdServer.perCall(puts.count)
    let (putRate, creates) = (measured[0], measured[1])
    let ratio = creates.rate / putRate.rate
    var result = PhaseResult()
    result.rows.append(ReportRow(
        figure: "durable pod creates, \(options.createWriters) callers", ours: "\(grouped(creates.rate))/s",
        anchor: "etcd Put 1 KiB \(grouped(putRate.rate))/s", ratio: ratio, target: "≥ 2×", met: ratio >= 2))
    result.notes.append(
        "creates: client CPU per call \(creates.cpuText) for pods, \(putRate.cpuText) for etcd Puts; best of \(options.createRounds) rounds")
    result.notes.append("creates: server CPU per call \(apiCPU) for pods (capstan apiserver), \(etcdCPU) for etcd Puts (etcd), over every round")
    return result
}

/// The CPU time (user + system) of this process's child whose command line contains a text,
/// from when it was made: the servers run as children of the benchmark.
struct ChildCPU {
    let pid: Int32?
    let start: Duration?

    init(commandContaining text: String) {
        pid = Self.child(commandContaining: text)
        start = pid.flatMap(ProcessMetrics.cpuTime(of:))
    }

    /// "N µs" of CPU per call over `calls` calls since `init`, or "unknown".
    func perCall(_ calls: Int) -> String {
        guard let pid, let start, let now = ProcessMetrics.cpuTime(of: pid), calls > 0 else { return "unknown" }
        return String(format: "%.0f µs", (now - start).seconds * 1e6 / Double(calls))
    }

    static func child(commandContaining text: String) -> Int32? {
        let me = getpid()
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for entry in entries {
            guard let pid = Int32(entry), ProcessMetrics.stat(of: pid)?.parentPID == me,
                let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")
            else { continue }
            let command = String(decoding: raw.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
            if command.contains(text) { return pid }
        }
        return nil
    }
}
