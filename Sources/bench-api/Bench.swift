// What every part of bench-api shares: its options, the servers and the clients.
import CapstanAPI
import CapstanHTTP2
import CapstanRPC
import Foundation
import Synchronization

struct Options: Sendable {
    /// Seconds of each h2load run.
    var getSeconds = 8.0
    /// h2load rounds (the three servers alternate; the best run of each counts).
    var getRounds = 2
    /// Seconds of each create run, and rounds.
    var createSeconds = 4.0
    var createRounds = 2
    var createWriters = 16
    var listPods = 10_000
    var watchers = 10_000
    var watchConnections = 100
    var watchChanges = 100
    /// etcd watchers per Watch stream: etcd multiplexes watchers on a stream, and with one per
    /// stream (10,000 streams, our layout) its Puts timed out under the fan-out on this machine.
    var etcdWatchersPerStream = 100
    /// Pods stored for the memory figure, and how long filling may take.
    var storedPods = 150_000
    var fillSeconds = 360.0
    var capstan = ""
    var h2loadScript = "Benchmarks/lib/h2load-grpc.sh"
    var output = ".build-bench/bench-api.txt"
    var directory = FileManager.default.temporaryDirectory.path
    /// The parts to run (get, creates, client, list, watch, memory); all by default.
    var parts: Set<String> = ["get", "creates", "client", "list", "watch", "memory"]

    /// Parses `--name value` pairs; unknown names are an error.
    init(arguments: [String]) throws {
        capstan = URL(fileURLWithPath: arguments[0]).deletingLastPathComponent().appendingPathComponent("capstan").path
        var index = 1
        while index < arguments.count {
            let name = arguments[index]
            guard index + 1 < arguments.count else { throw BenchUsage("\(name) needs a value") }
            let value = arguments[index + 1]
            index += 2
            func number() throws -> Double {
                guard let number = Double(value), number > 0 else { throw BenchUsage("\(name) needs a positive number, got '\(value)'") }
                return number
            }
            switch name {
            case "--get-seconds": getSeconds = try number()
            case "--get-rounds": getRounds = Int(try number())
            case "--create-seconds": createSeconds = try number()
            case "--create-rounds": createRounds = Int(try number())
            case "--create-writers": createWriters = Int(try number())
            case "--list-pods": listPods = Int(try number())
            case "--watchers": watchers = Int(try number())
            case "--watch-connections": watchConnections = Int(try number())
            case "--watch-changes": watchChanges = Int(try number())
            case "--etcd-watchers-per-stream": etcdWatchersPerStream = Int(try number())
            case "--stored-pods": storedPods = Int(try number())
            case "--fill-seconds": fillSeconds = try number()
            case "--capstan": capstan = value
            case "--h2load-script": h2loadScript = value
            case "--output": output = value
            case "--directory": directory = value
            case "--only": parts = Set(value.split(separator: ",").map(String.init))
            default: throw BenchUsage("unknown option \(name)")
            }
        }
    }
}

struct BenchUsage: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The servers and clients of one run.
struct Bench: Sendable {
    let options: Options
    /// A temporary directory for request files, nghttpd's docroot and logs.
    let work: String
    let apiAddress: String
    let apiTransport: HTTP2ClientTransport
    let pods: Pods.Client
    let etcdAddress: String
    let etcdTransport: HTTP2ClientTransport
    let kv: Etcdserverpb_KV.Client
    /// The client's event loops (every transport of the benchmark).
    let group: EventLoopGroup
    /// Pods created so far through the API, by every part.
    let podsCreated: Tally
}

/// A counter shared by concurrent tasks.
final class Tally: Sendable {
    private let value = Atomic<Int>(0)
    func add(_ amount: Int = 1) { value.add(amount, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}
