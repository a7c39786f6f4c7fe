// Get of a 1 KiB pod under h2load -c16 -m64, beside etcd's Range of a 1 KiB value and nghttpd
// serving our exact response bytes as a static file (the ceiling of an nghttp2 server here).
// The three alternate round by round and the best run of each counts. Each run is checked: DATA
// bytes must equal the response size times the requests that succeeded (a gRPC error has no DATA).
import CapstanAPI
import CapstanBenchSupport
import CapstanRPC
import CapstanWire
import Foundation

func benchGet(_ bench: Bench) async throws -> PhaseResult {
    let options = bench.options
    let pod = benchPod(name: "get-1k", namespace: "default")
    _ = try await bench.pods.create(pod)
    bench.podsCreated.add()
    var get = GetRequest()
    get.namespace = "default"
    get.name = "get-1k"
    let ours = try await rawUnary(bench.apiTransport, path: "/capstan.v1.Pods/Get", request: get.serializedBytes())
    guard (try? Pod(serializedBytes: ours))?.metadata.name == "get-1k" else { throw BenchError("Get returned no pod") }

    var put = Etcdserverpb_PutRequest()
    put.key = Array("/bench/get-1k".utf8)
    put.value = etcdValue
    _ = try await bench.kv.put(put)
    var range = Etcdserverpb_RangeRequest()
    range.key = put.key
    let etcd = try await rawUnary(bench.etcdTransport, path: "/etcdserverpb.KV/Range", request: range.serializedBytes())
    guard let etcdKVs = try? Etcdserverpb_RangeResponse(serializedBytes: etcd), etcdKVs.kvs.first?.value == etcdValue else {
        throw BenchError("etcd Range did not return the value")
    }

    let directory = bench.work + "/get"
    let docroot = directory + "/docroot"
    try FileManager.default.createDirectory(atPath: docroot + "/capstan.v1.Pods", withIntermediateDirectories: true)
    try Data(grpcFramed(ours)).write(to: URL(fileURLWithPath: docroot + "/capstan.v1.Pods/Get"))
    try Data(grpcFramed(get.serializedBytes())).write(to: URL(fileURLWithPath: directory + "/get.bin"))
    try Data(grpcFramed(range.serializedBytes())).write(to: URL(fileURLWithPath: directory + "/range.bin"))
    let (nghttpd, nghttpdPort) = try await startNghttpd(docroot: docroot, logPath: directory + "/nghttpd.log")

    struct Target {
        let name: String
        let url: String
        let request: String
        let responseBytes: Int
    }
    let targets = [
        Target(name: "nghttpd", url: "http://127.0.0.1:\(nghttpdPort)/capstan.v1.Pods/Get", request: directory + "/get.bin", responseBytes: 5 + ours.count),
        Target(name: "capstan", url: "http://\(bench.apiAddress)/capstan.v1.Pods/Get", request: directory + "/get.bin", responseBytes: 5 + ours.count),
        Target(name: "etcd", url: "http://\(bench.etcdAddress)/etcdserverpb.KV/Range", request: directory + "/range.bin", responseBytes: 5 + etcd.count),
    ]
    print("Get: pod \(ours.count) B, etcd RangeResponse \(etcd.count) B; h2load -c16 -m64 -t1, \(options.getSeconds) s per run, \(options.getRounds) rounds")
    var best: [String: H2LoadRun] = [:]
    var result = PhaseResult()
    do {
        for round in 1...options.getRounds {
            for target in targets {
                let run = try await h2load(
                    script: options.h2loadScript, url: target.url, request: target.request, responseBytes: target.responseBytes,
                    connections: 16, streams: 64, seconds: options.getSeconds)
                print("  round \(round) \(target.name): \(grouped(run.rate))/s p50 \(run.p50) µs p99 \(run.p99) µs check \(run.check)")
                fflush(nil)
                if run.check != "ok" {
                    result.notes.append("h2load run against \(target.name) failed its check: \(run.check)")
                    continue
                }
                if run.rate > best[target.name]?.rate ?? -1 { best[target.name] = run }
            }
        }
    } catch {
        await nghttpd.stop()
        throw error
    }
    await nghttpd.stop()
    guard let capstan = best["capstan"], let etcdRun = best["etcd"], let ceiling = best["nghttpd"] else {
        result.notes.append("Get: a server had no valid h2load run; no ratio")
        return result
    }
    let ratio = capstan.rate / etcdRun.rate
    result.rows.append(ReportRow(
        figure: "Get 1 KiB pod, h2load -c16 -m64", ours: "\(grouped(capstan.rate))/s",
        anchor: "etcd Range 1 KiB \(grouped(etcdRun.rate))/s", ratio: ratio, target: "≥ 8×", met: ratio >= 8))
    result.rows.append(ReportRow(
        figure: "Get 1 KiB pod vs nghttpd's ceiling", ours: "\(grouped(capstan.rate))/s",
        anchor: "nghttpd static \(grouped(ceiling.rate))/s", ratio: capstan.rate / ceiling.rate, target: "-", met: nil))
    result.rows.append(ReportRow(
        figure: "Get latency p50 / p99", ours: "\(capstan.p50) / \(capstan.p99) µs",
        anchor: "etcd \(etcdRun.p50) / \(etcdRun.p99) µs", ratio: nil, target: "-", met: nil))
    result.notes.append(
        "Get: \(5 + ours.count) B framed response (nghttpd serves the same bytes), etcd \(5 + etcd.count) B; "
            + "nghttpd p50/p99 \(ceiling.p50) / \(ceiling.p99) µs; best of \(options.getRounds) rounds")
    return result
}

struct H2LoadRun {
    var rate: Double
    var p50: String
    var p99: String
    var check: String
}

/// One run of Benchmarks/lib/h2load-grpc.sh.
func h2load(
    script: String, url: String, request: String, responseBytes: Int, connections: Int, streams: Int, seconds: Double
) async throws -> H2LoadRun {
    let (status, output) = try await runTool(
        "/bin/bash",
        [script, url, request, "\(responseBytes)", "\(connections)", "\(streams)", String(format: "%.0f", seconds)])
    let fields = output.split(whereSeparator: \.isWhitespace).map(String.init)
    guard status == 0, fields.count == 4, let rate = Double(fields[0]) else {
        throw BenchError("\(script) failed (status \(status)): \(output)")
    }
    return H2LoadRun(rate: rate, p50: fields[1], p99: fields[2], check: fields[3])
}
