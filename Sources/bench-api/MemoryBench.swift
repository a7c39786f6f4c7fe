// Memory with 150,000 pods stored: the pods are created through the API (128 concurrent callers,
// 50 namespaces, about 1 KiB each), counting those the earlier parts created; then the server's
// VmRSS, once as it is after the whole run and once after a restart on the same data (steady
// state: the watch cache loaded from the store, nothing else).
import CapstanAPI
import CapstanBenchSupport
import CapstanRPC
import CapstanWire
import Foundation

func benchMemory(_ bench: Bench, server: APIServerProcess, logDirectory: String, dataDirectory: String)
    async throws -> (PhaseResult, APIServerProcess)
{
    let options = bench.options
    let (apiTransport, tally) = (bench.apiTransport, bench.podsCreated)
    let already = tally.count
    let missing = max(0, options.storedPods - already)
    print("Memory: creating \(missing) more pods (\(already) stored), 128 callers, at most \(options.fillSeconds) s")
    fflush(nil)
    let template = benchPod(name: "p-000000", namespace: "team-00")
    let filled = try await runAll(count: missing, workers: 128, timeLimit: .seconds(options.fillSeconds)) { index in
        var pod = template
        pod.metadata.name = "p-" + String(1_000_000 + index).dropFirst()
        pod.metadata.namespace = "team-" + String(100 + index % 50).dropFirst()
        _ = try await rawUnary(apiTransport, path: "/capstan.v1.Pods/Create", request: pod.serializedBytes())
        tally.add()
    }
    let stored = tally.count
    var result = PhaseResult()
    let fillRate = Double(filled.done) / filled.elapsed.seconds
    result.notes.append(String(
        format: "memory: %@ pods created in %.0f s (%@/s, 128 callers); %@ stored in all", grouped(Double(filled.done)),
        filled.elapsed.seconds, grouped(fillRate), grouped(Double(stored))))
    let limitKiB = 1 << 20
    let after = server.residentKiB ?? 0
    result.rows.append(ReportRow(
        figure: "RSS, \(grouped(Double(stored))) pods, after the run", ours: "\(after / 1024) MiB", anchor: "-", ratio: nil,
        target: "≤ 1024 MiB", met: stored >= options.storedPods && after <= limitKiB))

    await server.child.stop()
    let restarted = try await APIServerProcess.start(
        executable: options.capstan, dataDirectory: dataDirectory, logPath: logDirectory + "/apiserver-restarted.log")
    try await Task.sleep(for: .seconds(1))
    let steady = restarted.residentKiB ?? 0
    result.rows.append(ReportRow(
        figure: "RSS, \(grouped(Double(stored))) pods, fresh start", ours: "\(steady / 1024) MiB",
        anchor: String(format: "start-up %.1f s", restarted.startup.seconds), ratio: nil,
        target: "≤ 1024 MiB", met: stored >= options.storedPods && steady <= limitKiB))
    return (result, restarted)
}
