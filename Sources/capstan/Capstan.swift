// capstan: Capstan's daemons. Wiring only: every behaviour lives in the libraries.
//   capstan apiserver --listen 127.0.0.1:7443 --store sqlite:/var/lib/capstan
//   capstan up [--data-dir ~/.capstan/data] [--listen 127.0.0.1:7443]
import ArgumentParser
import CapstanAPIServerHost
import CapstanHTTP2
import Dispatch
import Foundation

@main
struct Capstan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Capstan cluster manager daemons.",
        subcommands: [APIServerCommand.self, UpCommand.self])
}

/// The default API server address: loopback only, since nothing authenticates callers yet.
let defaultListen = "127.0.0.1:7443"

struct APIServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apiserver", abstract: "Serve the Capstan API over gRPC from a store.")

    @Option(help: "HOST:PORT to listen on.")
    var listen = defaultListen

    @Option(help: "sqlite:DIRECTORY (embedded, durable) or etcd:HOST:PORT[,HOST:PORT…].")
    var store: String

    func run() async throws {
        let address: StoreAddress
        do {
            address = try StoreAddress(parsing: store)
        } catch {
            throw ValidationError(error.description)
        }
        try await serveAPI(listen: listen, store: address)
    }
}

struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run a whole cluster on this machine on the embedded store (for now: the API server).")

    @Option(help: "Directory of the embedded store.")
    var dataDir = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".capstan/data").path

    @Option(help: "HOST:PORT to listen on.")
    var listen = defaultListen

    func run() async throws {
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        try await serveAPI(listen: listen, store: .sqlite(dataDir))
    }
}

/// Opens the store, serves the API until SIGINT or SIGTERM, then drains and closes.
func serveAPI(listen: String, store address: StoreAddress) async throws {
    let (host, port): (String, Int)
    do {
        (host, port) = try parseListenAddress(listen)
    } catch {
        throw ValidationError(error.description)
    }
    ProcessTuning.keepAllocatorHeap()
    let server = try await APIServerHost.start(store: address, host: host, port: port)
    print("capstan: API server listening on \(server.address) (store: \(address))")
    print("capstan: reach it with any gRPC client, e.g. grpcurl -plaintext \(server.address) list")
    fflush(nil)

    signal(SIGINT, SIG_IGN)
    signal(SIGTERM, SIG_IGN)
    var sources: [any DispatchSourceSignal] = []
    for number in [SIGINT, SIGTERM] {
        let source = DispatchSource.makeSignalSource(signal: number)
        source.setEventHandler { @Sendable [server] in
            print("capstan: shutting down")
            fflush(nil)
            server.beginShutdown()
        }
        source.resume()
        sources.append(source)
    }
    await server.waitUntilStopped()
    await server.stop()
    withExtendedLifetime(sources) {}
    print("capstan: stopped")
}
