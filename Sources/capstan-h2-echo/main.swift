// A small gRPC echo server over CapstanHTTP2, for load checks by hand (h2load, ghz):
//   swift run -c release capstan-h2-echo --port 50051 [--threads N] [--raw] [--metrics] [--log] [--interceptors]
// Service `capstan.test.Echo`: `Unary` answers the request bytes; `Stream` is bidirectional echo.
// `--raw` answers every stream's first message straight through the transport, without RPCServer,
// to tell the transport's share of the cost from the RPC core's. `--metrics` installs metrics and
// `--log` request logs (text lines on standard error), as call observers, or with `--interceptors`
// as the equivalent interceptors (which turn off the unary fast path), to measure what
// observability costs per call. Stops gracefully on SIGINT/SIGTERM.
import CapstanAPI
import CapstanHTTP2
import CapstanRPC
import CapstanWire
import Dispatch
import Glibc
import Logging

/// A message that is its bytes.
struct Payload: WireMessage {
    static let protoMessageName = "capstan.test.Payload"
    var bytes: [UInt8] = []
    init() {}
    init(serializedBytes bytes: UnsafeRawBufferPointer) throws(WireError) { self.bytes = Array(bytes) }
    func serializedBytes() -> [UInt8] { bytes }
}

var port = 50051
var threads = EventLoopGroup.coreCount
var metrics = false
var log = false
var asInterceptors = false
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--port": port = Int(arguments.next() ?? "") ?? port
    case "--threads": threads = Int(arguments.next() ?? "") ?? threads
    case "--raw": break
    case "--metrics": metrics = true
    case "--log": log = true
    case "--interceptors": asInterceptors = true
    default:
        print("usage: capstan-h2-echo [--port N] [--threads N] [--raw] [--metrics] [--log] [--interceptors]")
        exit(2)
    }
}
var interceptors: [any ServerInterceptor] = []
var observers: [any CallObserver] = []
// At debug every successful call is logged (at info only failed and slow ones), so `make bench-obs`
// measures the cost of one log line per call.
let logger = Logger(label: "capstan.rpc") { LineLogHandler(label: $0, level: .debug) }
if asInterceptors {
    if log { interceptors.append(RequestLogInterceptor(logger: logger)) }
    if metrics { interceptors.append(RPCMetrics().interceptor) }
} else {
    if metrics { observers.append(RPCMetrics().observer) }
    if log { observers.append(RequestLogObserver(logger: logger)) }
}

ProcessTuning.keepAllocatorHeap()

var router = RPCRouter()
let unary = MethodDescriptor<Payload, Payload>(service: "capstan.test.Echo", method: "Unary", kind: .unary)
let stream = MethodDescriptor<Payload, Payload>(service: "capstan.test.Echo", method: "Stream", kind: .bidirectional)
router.unary(unary) { request, _ in request }
router.bidirectional(stream) { requests, responses, _ in
    for try await request in requests { try await responses.write(request) }
}

let group = try EventLoopGroup(threads: threads)
var configuration = HTTP2ServerTransport.Configuration()
configuration.maxConcurrentStreams = 1000
let transport = try HTTP2ServerTransport(host: "127.0.0.1", port: port, configuration: configuration, group: group)
print("listening on \(transport.localAddress) with \(threads) loop threads")

signal(SIGINT, SIG_IGN)
signal(SIGTERM, SIG_IGN)
var sources: [any DispatchSourceSignal] = []
for number in [SIGINT, SIGTERM] {
    let source = DispatchSource.makeSignalSource(signal: number)
    source.setEventHandler { @Sendable [transport] in transport.beginGracefulShutdown() }
    source.resume()
    sources.append(source)
}

if CommandLine.arguments.contains("--raw") {
    try await transport.listen { stream in
        do {
            var it = stream.requests.makeAsyncIterator()
            // On the handler's own executor (it runs `nonisolated(nonsending)`): the iterator stays put.
            let message = try await it.next(isolation: #isolation) ?? []
            try await stream.writer.writeHeaders(Metadata())
            try await stream.writer.writeMessage(message)
            stream.writer.finish(status: .ok, details: nil, trailers: Metadata())
        } catch {
            stream.writer.finish(status: RPCStatus(code: .internal), details: nil, trailers: Metadata())
        }
    }
} else {
    try await RPCServer(router: router, interceptors: interceptors, observers: observers).serve(on: transport)
}
await group.shutdown()
print("stopped")
