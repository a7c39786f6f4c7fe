// Durable creates: pods through the API (validation, defaults, encoding, a compare-and-swap
// create in SQLite committed with fsync, the watch cache fed) against raw etcd Puts of 1 KiB
// values (fsync on), both with the same number of concurrent callers through the same client
// library, alternating round by round; the best run of each counts.
import CapstanAPI
import CapstanBenchSupport
import CapstanRPC
import CapstanWire

func benchCreates(_ bench: Bench) async throws -> PhaseResult {
    let options = bench.options
    let (pods, kv, tally) = (bench.pods, bench.kv, bench.podsCreated)
    let template = benchPod(name: "c-00-0000000000", namespace: "creates")
    print("Creates: \(options.createWriters) concurrent callers, \(options.createSeconds) s per run, \(options.createRounds) rounds")
    let measured = try await alternate(workers: options.createWriters, seconds: options.createSeconds, rounds: options.createRounds, [
        { worker, iteration in
            var put = Etcdserverpb_PutRequest()
            put.key = Array("/creates/w\(worker)/\(iteration)".utf8)
            put.value = etcdValue
            _ = try await kv.put(put)
        },
        { worker, iteration in
            var pod = template
            pod.metadata.name = "c-\(worker)-\(iteration)"
            _ = try await pods.create(pod)
            tally.add()
        },
    ])
    let (puts, creates) = (measured[0], measured[1])
    let ratio = creates.rate / puts.rate
    var result = PhaseResult()
    result.rows.append(ReportRow(
        figure: "durable pod creates, \(options.createWriters) callers", ours: "\(grouped(creates.rate))/s",
        anchor: "etcd Put 1 KiB \(grouped(puts.rate))/s", ratio: ratio, target: "≥ 2×", met: ratio >= 2))
    result.notes.append(
        "creates: client CPU per call \(creates.cpuText) for pods, \(puts.cpuText) for etcd Puts; best of \(options.createRounds) rounds")
    return result
}
