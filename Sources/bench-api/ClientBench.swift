// Client CPU of a call through CapstanClient: pod creates made with `CapstanClient.pods.create`
// (the RPC core's call, the client's default deadline and retry policy, the request encoded and
// the response decoded) against the same creates sent as bytes on the same transport (`rawUnary`:
// the transport alone, the response not decoded), 16 callers, alternating round by round. The
// server's work is the same for both, so the difference is what the client library adds per call.
import CapstanAPI
import CapstanBenchSupport
import CapstanClient
import CapstanRPC
import CapstanWire
import Foundation

func benchClient(_ bench: Bench) async throws -> PhaseResult {
    let options = bench.options
    let (transport, tally) = (bench.apiTransport, bench.podsCreated)
    let client = CapstanClient(transport: transport)
    let template = benchPod(name: "k-00-0000000000", namespace: "client")
    print("Client: \(options.createWriters) concurrent callers, \(options.createSeconds) s per run, \(options.createRounds) rounds")
    let measured = try await alternate(workers: options.createWriters, seconds: options.createSeconds, rounds: options.createRounds, [
        { worker, iteration in
            var pod = template
            pod.metadata.name = "r-\(worker)-\(iteration)"
            _ = try await rawUnary(transport, path: "/capstan.v1.Pods/Create", request: pod.serializedBytes())
            tally.add()
        },
        { worker, iteration in
            var pod = template
            pod.metadata.name = "k-\(worker)-\(iteration)"
            _ = try await client.pods.create(pod)
            tally.add()
        },
    ])
    let (raw, typed) = (measured[0], measured[1])
    let (rawMicros, typedMicros) = (raw.cpuPerOperation.seconds * 1e6, typed.cpuPerOperation.seconds * 1e6)
    var result = PhaseResult()
    result.rows.append(ReportRow(
        figure: "client CPU per pod create, CapstanClient", ours: String(format: "%.0f µs (%@/s)", typedMicros, grouped(typed.rate)),
        anchor: String(format: "raw bytes, same transport %.0f µs (%@/s)", rawMicros, grouped(raw.rate)),
        ratio: typedMicros / rawMicros, target: "-", met: nil))
    return result
}
