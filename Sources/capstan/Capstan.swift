// capstan: Capstan's daemons. Wiring only: every behaviour lives in the libraries.
//   capstan apiserver --listen 127.0.0.1:7443 --store sqlite:/var/lib/capstan
//   capstan up [--data-dir ~/.capstan/data] [--listen 127.0.0.1:7443]
import ArgumentParser
import CapstanAPIServer
import CapstanHTTP2
import CapstanRPC
import CapstanStore
import CapstanWire
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
        try await serveAPI(listen: listen, store: try StoreAddress(parsing: store))
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

/// Where the state lives, from `--store`.
enum StoreAddress {
    case sqlite(String)
    case etcd([String])

    init(parsing text: String) throws {
        if text.hasPrefix("sqlite:"), text.count > 7 {
            self = .sqlite(String(text.dropFirst(7)))
        } else if text.hasPrefix("etcd:"), text.count > 5 {
            self = .etcd(text.dropFirst(5).split(separator: ",").map(String.init))
        } else {
            throw ValidationError("--store must be sqlite:DIRECTORY or etcd:HOST:PORT[,HOST:PORT…], got '\(text)'")
        }
    }
}

/// Opens the store, serves the API until SIGINT or SIGTERM, then drains and closes.
func serveAPI(listen: String, store address: StoreAddress) async throws {
    let parts = listen.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count >= 2, let port = Int(parts.last!), (0...65_535).contains(port) else {
        throw ValidationError("--listen must be HOST:PORT, got '\(listen)'")
    }
    let host = parts.dropLast().joined(separator: ":").trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
    ProcessTuning.keepAllocatorHeap()
    let group = try EventLoopGroup()
    let store: any Store
    let closeStore: @Sendable () async -> Void
    switch address {
    case .sqlite(let directory):
        let sqlite = try await SQLiteStore.open(directory: directory)
        store = sqlite
        closeStore = { await sqlite.close() }
    case .etcd(let endpoints):
        let etcd = try EtcdStore(endpoints: endpoints)
        store = etcd
        closeStore = { await etcd.close() }
    }
    let api = APIServer(store: store)
    var router = RPCRouter()
    api.register(on: &router)
    let health = HealthService()
    _ = router.addStandardServices(health: health, descriptors: CapstanFileDescriptors.all)
    let transport = try HTTP2ServerTransport(host: host, port: port, group: group)
    print("capstan: API server listening on \(host):\(transport.localPort) (store: \(address))")
    print("capstan: reach it with any gRPC client, e.g. grpcurl -plaintext \(host):\(transport.localPort) list")
    fflush(nil)

    signal(SIGINT, SIG_IGN)
    signal(SIGTERM, SIG_IGN)
    var sources: [any DispatchSourceSignal] = []
    for number in [SIGINT, SIGTERM] {
        let source = DispatchSource.makeSignalSource(signal: number)
        source.setEventHandler { @Sendable [transport, health] in
            print("capstan: shutting down")
            fflush(nil)
            health.shutdown()
            transport.beginGracefulShutdown()
        }
        source.resume()
        sources.append(source)
    }

    let server = RPCServer(router: router)
    await withTaskGroup(of: Void.self) { tasks in
        let feed = Task { await api.run() }
        tasks.addTask {
            do {
                try await server.serve(on: transport)
            } catch {
                print("capstan: server stopped: \(error)")
            }
        }
        await tasks.waitForAll()
        feed.cancel()
        _ = await feed.value
    }
    await closeStore()
    await group.shutdown()
    withExtendedLifetime(sources) {}
    print("capstan: stopped")
}
