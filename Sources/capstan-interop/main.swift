// capstan-interop: gRPC's interop test server and client over Capstan's HTTP/2 transport, with the
// flags gRPC's interop runners use.
//   capstan-interop server --port N                      (127.0.0.1; prints "listening on PORT")
//   capstan-interop client --server_host H --server_port N --test_case NAME|all
// The client prints PASS/FAIL per case and exits non-zero if any case fails. Wiring only: the
// service, the cases and the flag parsing live in CapstanInterop.
import CapstanHTTP2
import CapstanInterop
import CapstanRPC
import CapstanWire
import Dispatch
import Glibc

let commandLine: InteropCommandLine
do {
    commandLine = try InteropCommandLine(parsing: Array(CommandLine.arguments.dropFirst()))
} catch {
    print("capstan-interop: \(error)\n\n\(InteropCommandLine.usage)")
    exit(2)
}

ProcessTuning.keepAllocatorHeap()
let group = try EventLoopGroup()

switch commandLine.role {
case .server(let options):
    var router = RPCRouter()
    InteropTestService().register(on: &router)
    let health = HealthService()
    _ = router.addStandardServices(health: health, descriptors: InteropFileDescriptors.all + CapstanFileDescriptors.all)
    var configuration = HTTP2ServerTransport.Configuration()
    configuration.maxConcurrentStreams = 1000
    let transport = try HTTP2ServerTransport(host: "127.0.0.1", port: options.port, configuration: configuration, group: group)
    print("listening on \(transport.localPort)")
    fflush(nil)
    signal(SIGINT, SIG_IGN)
    signal(SIGTERM, SIG_IGN)
    var sources: [any DispatchSourceSignal] = []
    for number in [SIGINT, SIGTERM] {
        let source = DispatchSource.makeSignalSource(signal: number)
        source.setEventHandler { @Sendable [transport, health] in
            health.shutdown()
            transport.beginGracefulShutdown()
        }
        source.resume()
        sources.append(source)
    }
    try await RPCServer(router: router).serve(on: transport)

case .client(let options):
    let transport = try HTTP2ClientTransport(targets: ["\(options.serverHost):\(options.serverPort)"], group: group)
    let client = RPCClient(transport: transport)
    var failed = 0
    for testCase in options.testCases {
        do {
            try await testCase.run(using: client)
            print("PASS \(testCase.rawValue)")
        } catch {
            failed += 1
            print("FAIL \(testCase.rawValue): \(error)")
        }
        fflush(nil)
    }
    print("\(options.testCases.count - failed) passed, \(failed) failed")
    await transport.close()
    await group.shutdown()
    exit(failed == 0 ? 0 : 1)
}
await group.shutdown()
