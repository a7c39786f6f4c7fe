// Durable creates: pods through the API (validation, defaults, encoding, a compare-and-swap
// create in SQLite committed with fsync, the watch cache fed) against raw etcd Puts of 1 KiB
// values (fsync on), both with the same number of concurrent callers through the same client
// library, alternating round by round; the best run of each counts. The client encodes each
// request and takes the response as bytes without decoding it (our Create answers the whole pod,
// etcd's Put a small header): the client shares the machine's cores with the servers.
import CapstanAPI
import CapstanBenchSupport
import CapstanRPC
import CapstanWire

func benchCreates(_ bench: Bench) async throws -> PhaseResult {
    let options = bench.options
    let (apiTransport, etcdTransport, tally) = (bench.apiTransport, bench.etcdTransport, bench.podsCreated)
    let template = benchPod(name: "c-00-0000000000", namespace: "creates")
    print("Creates: \(options.createWriters) concurrent callers, \(options.createSeconds) s per run, \(options.createRounds) rounds")
    let measured = try await alternate(workers: options.createWriters, seconds: options.createSeconds, rounds: options.createRounds, [
        { worker, iteration in
            var put = Etcdserverpb_PutRequest()
            put.key = Array("/creates/w\(worker)/\(iteration)".utf8)
            put.value = etcdValue
            _ = try await rawUnary(etcdTransport, path: "/etcdserverpb.KV/Put", request: put.serializedBytes())
        },
        { worker, iteration in
            var pod = template
            pod.metadata.name = "c-\(worker)-\(iteration)"
            _ = try await rawUnary(apiTransport, path: "/capstan.v1.Pods/Create", request: pod.serializedBytes())
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
