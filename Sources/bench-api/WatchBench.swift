// Watch fan-out: 10,000 watch streams spread over 100 HTTP/2 connections (the server's default
// of 100 concurrent streams per connection), then 100 changes issued at once; the figure is the
// time from the first change until every watcher holds every event, and events/s in total.
//
// Ours: Pods/Watch of namespace "watch" (empty) with send_initial_events, so each stream's first
// message is the BOOKMARK that ends the initial state: once every stream had it, every watcher is
// registered. The changes are 100 pod creates (about 1 KiB each). Each PodEvent is one message.
// etcd: 100 connections as well, with its watchers multiplexed on Watch streams, 100 per stream
// by default (`--etcd-watchers-per-stream`; with 1, our layout of 10,000 streams, etcd's Puts
// timed out under the fan-out on this machine); each watcher is confirmed by its `created`
// response; the changes are 100 Puts of 1 KiB. etcd batches events into WatchResponses: they are
// counted by scanning each response's fields without decoding. Neither side decodes an event.
import CapstanAPI
import CapstanBenchSupport
import CapstanHTTP2
import CapstanRPC
import CapstanWire
import Foundation
import Synchronization

/// What one fan-out run found.
struct FanOut {
    var setup: Duration
    /// First change to the last watcher holding every event.
    var elapsed: Duration
    /// First change until half the watchers held every event.
    var median: Duration
    var watchersDone: Int
    var events: Int
    var serverResidentKiB: Int?
    var complete: Bool
    var failures = 0
    /// First change until the last change was acknowledged.
    var changesAcknowledged: Duration = .zero
    /// CPU time of the server process and of this client from the first change until every
    /// stream was over.
    var serverCPU: Duration?
    var clientCPU: Duration = .zero
    /// Response messages that carried the events.
    var messages = 0
}

/// What one watch message says, as far as the benchmark needs to know.
struct WatchMessage {
    var confirms = false
    var watcher: Int64 = 0
    var events = 0
}

/// How one side opens a watch and reads its messages.
struct WatchSide: Sendable {
    let name: String
    let address: String
    let path: String
    let request: [UInt8]
    /// Whether the request side stays open (etcd's Watch is bidirectional).
    let keepSendOpen: Bool
    /// Watchers on one stream (the request is sent that many times on it).
    let watchersPerStream: Int
    /// What one message says: that a watcher is in place, or events for one watcher of the
    /// stream; nil when the message is malformed.
    let parse: @Sendable ([UInt8]) -> WatchMessage?
    /// Issues change number N (all are issued at once); retried when the server is UNAVAILABLE.
    let change: @Sendable (Int) async throws -> Void
    let serverPID: Int32?
}

func benchWatch(_ bench: Bench, serverPID: Int32, etcdPID: Int32?) async throws -> PhaseResult {
    let options = bench.options
    let (pods, kv, tally) = (bench.pods, bench.kv, bench.podsCreated)
    var ours = WatchRequest()
    ours.namespace = "watch"
    ours.sendInitialEvents = true
    let template = benchPod(name: "w-000", namespace: "watch")
    let oursSide = WatchSide(
        name: "capstan", address: bench.apiAddress, path: "/capstan.v1.Pods/Watch", request: ours.serializedBytes(),
        keepSendOpen: false, watchersPerStream: 1,
        parse: { bytes in
            // The first message of each stream is the BOOKMARK ending the (empty) initial state;
            // every later one is one event.
            bytes.count < 64 && (try? PodEvent(serializedBytes: bytes))?.type == .bookmark
                ? WatchMessage(confirms: true) : WatchMessage(events: 1)
        },
        change: { index in
            var pod = template
            pod.metadata.name = "w-" + String(1000 + index).dropFirst()
            try await retryingUnavailable { retried in
                do {
                    _ = try await pods.create(pod)
                } catch let error as RPCError where retried && error.code == .alreadyExists {}
            }
            tally.add()
        },
        serverPID: serverPID)
    var create = Etcdserverpb_WatchCreateRequest()
    create.key = Array("/watch/".utf8)
    create.rangeEnd = Array("/watch0".utf8)
    var etcdRequest = Etcdserverpb_WatchRequest()
    etcdRequest.createRequest = create
    let etcdSide = WatchSide(
        name: "etcd", address: bench.etcdAddress, path: "/etcdserverpb.Watch/Watch", request: etcdRequest.serializedBytes(),
        keepSendOpen: true, watchersPerStream: options.etcdWatchersPerStream,
        parse: { bytes in
            // WatchResponse: watch_id = 2, created = 3, events = 11.
            guard let fields = protoFields(bytes[...]) else { return nil }
            if fields.contains(where: { $0.number == 3 && $0.varint == 1 }) { return WatchMessage(confirms: true) }
            return WatchMessage(
                watcher: Int64(bitPattern: fields.last { $0.number == 2 }?.varint ?? 0), events: fields.count(where: { $0.number == 11 }))
        },
        change: { index in
            var put = Etcdserverpb_PutRequest()
            put.key = Array("/watch/k\(index)".utf8)
            put.value = etcdValue
            _ = try await retryingUnavailable { _ in try await kv.put(put) }
        },
        serverPID: etcdPID)

    print("Watch fan-out: \(options.watchers) watchers on \(options.watchConnections) connections, \(options.watchChanges) changes")
    var result = PhaseResult()
    var runs: [String: FanOut] = [:]
    for side in [oursSide, etcdSide] {
        let run = try await fanOut(side, options: options, group: bench.group)
        runs[side.name] = run
        print(String(
            format: "  %@: set-up %.1f s, changes acknowledged after %.3f s, all events after %.3f s (half the watchers after %.3f s), %@ events, %@ events/s%@",
            side.name, run.setup.seconds, run.changesAcknowledged.seconds, run.elapsed.seconds, run.median.seconds, grouped(Double(run.events)),
            grouped(Double(run.events) / run.elapsed.seconds),
            run.serverResidentKiB.map { ", server RSS \($0 / 1024) MiB with the watchers" } ?? ""))
        print(String(
            format: "  %@: %@ messages carried the events; CPU per event delivered: server %@, client %.2f µs", side.name,
            grouped(Double(run.messages)),
            run.serverCPU.map { String(format: "%.2f µs", $0.seconds * 1e6 / Double(max(run.events, 1))) } ?? "?",
            run.clientCPU.seconds * 1e6 / Double(max(run.events, 1))))
        fflush(nil)
        if !run.complete {
            result.notes.append(
                "watch \(side.name): only \(run.watchersDone) of \(options.watchers) watchers got every event within 120 s (\(run.failures) failed)")
        }
    }
    guard let capstan = runs["capstan"], let etcd = runs["etcd"] else { return result }
    let total = Double(options.watchers * options.watchChanges)
    let ourRate = capstan.complete ? total / capstan.elapsed.seconds : 0
    let etcdRate = etcd.complete ? total / etcd.elapsed.seconds : 0
    result.rows.append(ReportRow(
        figure: "watch fan-out \(grouped(Double(options.watchers))) × \(options.watchChanges) events",
        ours: String(format: "%.3f s, %@ ev/s", capstan.elapsed.seconds, grouped(ourRate)),
        anchor: String(format: "etcd %.3f s, %@ ev/s", etcd.elapsed.seconds, grouped(etcdRate)),
        ratio: etcdRate > 0 ? ourRate / etcdRate : nil, target: "≥ 500,000 ev/s", met: capstan.complete && ourRate >= 500_000))
    if let ours = capstan.serverCPU, let theirs = etcd.serverCPU, capstan.events > 0, etcd.events > 0 {
        let (oursPer, theirsPer) = (ours.seconds / Double(capstan.events), theirs.seconds / Double(etcd.events))
        result.rows.append(ReportRow(
            figure: "watch fan-out server CPU per event", ours: String(format: "%.2f µs", oursPer * 1e6),
            anchor: String(format: "etcd %.2f µs", theirsPer * 1e6), ratio: oursPer / theirsPer, target: "-", met: nil))
    }
    if let ours = capstan.serverResidentKiB, let theirs = etcd.serverResidentKiB {
        result.rows.append(ReportRow(
            figure: "RSS with \(grouped(Double(options.watchers))) watchers open", ours: "\(ours / 1024) MiB",
            anchor: "etcd \(theirs / 1024) MiB", ratio: Double(ours) / Double(theirs), target: "-", met: nil))
    }
    result.notes.append(String(
        format: "watch: set-up (open every stream, first message on each) %.1f s ours, %.1f s etcd; events/s = watchers × changes ÷ time from the first change to the last watcher done; CPU from the first change until every stream was over (client: ours %.2f µs/event, etcd %.2f µs/event); etcd: %d watchers per Watch stream",
        capstan.setup.seconds, etcd.setup.seconds, capstan.clientCPU.seconds * 1e6 / Double(max(capstan.events, 1)),
        etcd.clientCPU.seconds * 1e6 / Double(max(etcd.events, 1)), options.etcdWatchersPerStream))
    return result
}

/// Completion times of the watchers and what became of their streams, shared by their tasks.
private final class Finish: Sendable {
    let ready = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    let events = Atomic<Int>(0)
    /// Messages carrying events (each task adds its count when it ends).
    let messages = Atomic<Int>(0)
    /// Streams whose task is over (every watcher done, or failed).
    let streamsOver = Atomic<Int>(0)
    let times = Mutex<[ContinuousClock.Instant]>([])
    let writers = Mutex<[any ClientStreamWriter]>([])
    let failures = Mutex<[String]>([])
}

/// One fan-out run of `side`, bounded in time.
///
/// Each stream is read by its own unstructured task, which records the instant its watchers
/// held every event; the run waits on counters. (A task group of 10,000 children, one per
/// stream on our side against 100 on etcd's, costs the client time per child attached and per
/// result collected that grows with the number of children, inside the measured window.)
/// Each task reads its stream with the stream's event loop preferred, as a watcher in a real
/// component can: a message then reaches its reader without a hop to the global executor's
/// threads (about a tenth less client CPU per event, same for both sides).
private func fanOut(_ side: WatchSide, options: Options, group: EventLoopGroup) async throws -> FanOut {
    var transports: [HTTP2ClientTransport] = []
    for _ in 0..<options.watchConnections {
        transports.append(try HTTP2ClientTransport(targets: [side.address], group: group))
    }
    let finish = Finish()
    let changes = options.watchChanges
    let streams = options.watchers / side.watchersPerStream
    let perStream = side.watchersPerStream
    let setupStart = ContinuousClock.now
    var outcome = FanOut(setup: .zero, elapsed: .zero, median: .zero, watchersDone: 0, events: 0, serverResidentKiB: nil, complete: false)
    var tasks: [Task<Void, Never>] = []
    tasks.reserveCapacity(streams)
    for index in 0..<streams {
        let transport = transports[index % transports.count]
        tasks.append(Task {
            var messages = 0
            defer {
                finish.messages.add(messages, ordering: .relaxed)
                finish.streamsOver.add(1, ordering: .relaxed)
            }
            do {
                let stream = try await transport.openStream(path: side.path, metadata: Metadata(), deadline: nil)
                for _ in 0..<perStream { try await stream.writer.writeMessage(side.request) }
                if !side.keepSendOpen { stream.writer.closeSend() }
                // Read on the thread that receives the stream's bytes: no hop per message.
                try await withTaskExecutorPreference(stream.executor) {
                    var confirmed = 0
                    var events: [Int64: Int] = [:]
                    var done = 0
                    for try await part in stream.responses {
                        switch part {
                        case .headers: continue
                        case .message(let bytes):
                            guard let message = side.parse(bytes) else { throw BenchError("\(side.name) watch: malformed message") }
                            if message.confirms {
                                confirmed += 1
                                finish.ready.add(1, ordering: .relaxed)
                                continue
                            }
                            messages += 1
                            guard confirmed == perStream else { throw BenchError("\(side.name) watch: events before every watcher was confirmed") }
                            let before = events[message.watcher, default: 0]
                            events[message.watcher] = before + message.events
                            guard before < changes, before + message.events >= changes else { continue }
                            let now = ContinuousClock.now
                            finish.times.withLock { $0.append(now) }
                            finish.events.add(before + message.events, ordering: .relaxed)
                            done += 1
                            if done == perStream {
                                finish.writers.withLock { $0.append(stream.writer) }
                                return
                            }
                        case .status(let status, _, _):
                            throw BenchError("\(side.name) watch ended early: \(status)")
                        }
                    }
                    throw BenchError("\(side.name) watch: the stream ended")
                }
            } catch {
                if Task.isCancelled { return }
                finish.failed.add(1, ordering: .relaxed)
                let count = finish.failures.withLock { failures in
                    failures.append("\(error)")
                    return failures.count
                }
                if count == 1 { print("  \(side.name) watcher failed: \(error)") }
            }
        })
    }
    defer { for task in tasks { task.cancel() } }
    // Every watcher in place (bounded), then the changes, all at once.
    let setupDeadline = ContinuousClock.now + .seconds(180)
    while finish.ready.load(ordering: .relaxed) + finish.failed.load(ordering: .relaxed) < options.watchers,
        ContinuousClock.now < setupDeadline
    {
        try await Task.sleep(for: .milliseconds(20))
    }
    outcome.setup = ContinuousClock.now - setupStart
    guard finish.ready.load(ordering: .relaxed) > 0 else {
        throw BenchError("\(side.name): only \(finish.ready.load(ordering: .relaxed)) of \(options.watchers) watchers were set up within 180 s (\(finish.failed.load(ordering: .relaxed)) failed)")
    }
    outcome.serverResidentKiB = side.serverPID.flatMap { residentMemoryKiB(of: $0) }
    let serverCPUStart = side.serverPID.flatMap { ProcessMetrics.cpuTime(of: $0) }
    let clientCPUStart = processCPU()
    let start = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { writes in
        for index in 0..<changes { writes.addTask { try await side.change(index) } }
        try await writes.waitForAll()
    }
    outcome.changesAcknowledged = ContinuousClock.now - start
    // Every stream over (bounded); the watchers note their own completion instants.
    let deadline = start + .seconds(120)
    while finish.streamsOver.load(ordering: .relaxed) < streams, ContinuousClock.now < deadline {
        try await Task.sleep(for: .milliseconds(5))
    }
    if let serverCPUStart, let serverCPUEnd = side.serverPID.flatMap({ ProcessMetrics.cpuTime(of: $0) }) {
        outcome.serverCPU = serverCPUEnd - serverCPUStart
    }
    outcome.clientCPU = processCPU() - clientCPUStart
    for task in tasks { task.cancel() }
    let times = finish.times.withLock { $0 }.sorted()
    outcome.watchersDone = times.count
    outcome.complete = times.count == options.watchers
    outcome.elapsed = (times.last ?? start) - start
    outcome.median = times.isEmpty ? .zero : times[times.count / 2] - start
    outcome.events = finish.events.load(ordering: .relaxed)
    outcome.messages = finish.messages.load(ordering: .relaxed)
    outcome.failures = finish.failures.withLock { $0.count }
    for writer in finish.writers.withLock({ $0 }) { writer.cancel() }
    for task in tasks { await task.value }
    for transport in transports { await transport.close() }
    return outcome
}
