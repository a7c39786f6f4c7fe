// List of 10,000 pods: the whole collection page by page with the default page size (500; every
// page from the watch cache, as no pod changes while listing), and
// with limit 10,000 (pages then end at the server's 3 MiB page budget). Anchor: etcd Range over
// 10,000 keys of 1 KiB, 500 per page. The client takes each page as bytes and only finds the
// items and the continuation in them (no decoding), in both cases.
import CapstanAPI
import CapstanBenchSupport
import CapstanRPC
import CapstanWire
import Foundation

func benchList(_ bench: Bench) async throws -> PhaseResult {
    let options = bench.options
    let tally = bench.podsCreated
    let (apiTransport, etcdTransport) = (bench.apiTransport, bench.etcdTransport)
    let count = options.listPods
    let template = benchPod(name: "l-000000", namespace: "list")
    let filled = try await runAll(count: count, workers: 64, timeLimit: .seconds(300)) { index in
        var pod = template
        pod.metadata.name = "l-" + String(1_000_000 + index).dropFirst()
        _ = try await rawUnary(apiTransport, path: "/capstan.v1.Pods/Create", request: pod.serializedBytes())
        tally.add()
    }
    let etcdFilled = try await runAll(count: count, workers: 64, timeLimit: .seconds(300)) { index in
        var put = Etcdserverpb_PutRequest()
        put.key = Array(("/list/k" + String(1_000_000 + index).dropFirst()).utf8)
        put.value = etcdValue
        _ = try await rawUnary(etcdTransport, path: "/etcdserverpb.KV/Put", request: put.serializedBytes())
    }
    var result = PhaseResult()
    result.rows.append(ReportRow(
        figure: "durable pod creates, 64 callers (List set-up)", ours: "\(grouped(Double(filled.done) / filled.elapsed.seconds))/s",
        anchor: "etcd Put 1 KiB \(grouped(Double(etcdFilled.done) / etcdFilled.elapsed.seconds))/s",
        ratio: (Double(filled.done) / filled.elapsed.seconds) / (Double(etcdFilled.done) / etcdFilled.elapsed.seconds),
        target: "-", met: nil))
    guard filled.done == count, etcdFilled.done == count else {
        result.notes.append("List: only \(filled.done) pods / \(etcdFilled.done) etcd keys stored within 300 s; List skipped")
        return result
    }

    /// Lists the namespace page by page as raw bytes (items counted, the continue token read,
    /// nothing decoded); returns (items, pages).
    @Sendable func listPods(limit: Int64) async throws -> (Int, Int) {
        var request = ListRequest()
        request.namespace = "list"
        request.limit = limit
        var (items, pages) = (0, 0)
        repeat {
            let page = try await rawUnary(apiTransport, path: "/capstan.v1.Pods/List", request: request.serializedBytes())
            guard let fields = protoFields(page[...]) else { throw BenchError("malformed PodList") }
            items += fields.count(where: { $0.number == 1 })
            pages += 1
            request.continueToken = fields.last { $0.number == 3 }.map { String(decoding: page[$0.bytes], as: UTF8.self) } ?? ""
        } while !request.continueToken.isEmpty && pages < 10_000
        return (items, pages)
    }
    /// The same for etcd's Range, 500 keys per page at the first page's revision.
    @Sendable func rangeKeys() async throws -> (Int, Int) {
        var request = Etcdserverpb_RangeRequest()
        request.key = Array("/list/".utf8)
        request.rangeEnd = Array("/list0".utf8)
        request.limit = 500
        var (items, pages) = (0, 0)
        while pages < 10_000 {
            let page = try await rawUnary(etcdTransport, path: "/etcdserverpb.KV/Range", request: request.serializedBytes())
            guard let fields = protoFields(page[...]) else { throw BenchError("malformed RangeResponse") }
            let kvs = fields.filter { $0.number == 2 }
            items += kvs.count
            pages += 1
            guard fields.last(where: { $0.number == 3 })?.varint == 1, let last = kvs.last,
                let key = protoFields(page[last.bytes])?.first(where: { $0.number == 1 })
            else { break }
            request.key = Array(page[key.bytes]) + [0]
            if request.revision == 0,
                let header = fields.first(where: { $0.number == 1 }),
                let revision = protoFields(page[header.bytes])?.first(where: { $0.number == 3 })
            {
                request.revision = Int64(bitPattern: revision.varint)
            }
        }
        return (items, pages)
    }

    let cases: [(name: String, run: @Sendable () async throws -> (Int, Int))] = [
        ("default pages", { try await listPods(limit: 0) }),
        ("limit \(count)", { try await listPods(limit: Int64(count)) }),
        ("etcd", { try await rangeKeys() }),
    ]
    var best = [Duration](repeating: .seconds(3600), count: cases.count)
    var pages = [Int](repeating: 0, count: cases.count)
    for _ in 0..<3 {
        for (index, listing) in cases.enumerated() {
            let start = ContinuousClock.now
            let (items, pageCount) = try await listing.run()
            let elapsed = ContinuousClock.now - start
            guard items == count else { throw BenchError("List \(listing.name) returned \(items) items, not \(count)") }
            best[index] = min(best[index], elapsed)
            pages[index] = pageCount
        }
    }
    func text(_ index: Int) -> String {
        String(format: "%.0f ms, %@ items/s, %d pages", best[index].seconds * 1000, grouped(Double(count) / best[index].seconds), pages[index])
    }
    print("List: \(cases.indices.map { "\(cases[$0].name) \(text($0))" }.joined(separator: "; "))")
    result.rows.append(ReportRow(
        figure: "List \(grouped(Double(count))) pods, default page size", ours: text(0), anchor: "etcd Range 500/page " + text(2),
        ratio: best[2].seconds / best[0].seconds, target: "report", met: nil))
    result.rows.append(ReportRow(
        figure: "List \(grouped(Double(count))) pods, limit \(count)", ours: text(1), anchor: "etcd Range 500/page " + text(2),
        ratio: best[2].seconds / best[1].seconds, target: "report", met: nil))
    result.notes.append("List: ratio = etcd's time ÷ ours (above 1: we list faster); best of 3 rounds; pages read as bytes, not decoded")
    return result
}
