// capstan: Capstan's daemons. Wiring only: every behaviour lives in the libraries.
//   capstan apiserver --listen 127.0.0.1:7443 --store sqlite:/var/lib/capstan [--metrics-listen 127.0.0.1:7444]
//   capstan up [--data-dir ~/.capstan/data] [--listen 127.0.0.1:7443] [--metrics-listen 127.0.0.1:7444|off]
//   both: [--log-level trace|debug|info|notice|warning|error|critical] [--log-format text|json] [--request-log-limit N (100)]
//         [--token-file FILE (TOKEN,NAME[,read-only] per line)] [--shutdown-grace-period SECONDS (10)]
//   capstan backup / restore: StoreCommands.swift
import ArgumentParser
import CapstanAPI
import CapstanAllocator
import CapstanAPIServer
import CapstanAPIServerHost
import CapstanHTTP2
import CapstanRPC
import Dispatch
import Foundation
import Logging
import Synchronization

@main
struct Capstan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Capstan cluster manager daemons.",
        version: CapstanVersion.current,
        subcommands: [APIServerCommand.self, UpCommand.self, BackupCommand.self, RestoreCommand.self])
}

/// The default API server address: loopback only, since nothing authenticates callers yet.
let defaultListen = "127.0.0.1:7443"
/// Where `capstan up` serves `GET /metrics` unless told otherwise (loopback only).
let defaultUpMetricsListen = "127.0.0.1:7444"

/// Logging flags shared by the daemons.
struct LogFlags: ParsableArguments {
    @Option(
        help: """
            Lowest level logged: trace, debug (one line per call), info (failed and slow calls), notice, warning, \
            error, critical.
            """)
    var logLevel = "info"

    @Option(help: "Log line format on standard error: text (key=value) or json.")
    var logFormat = "text"

    @Option(
        help: """
            Most request-log lines per second; past it lines are dropped, counted and summed up in one line a \
            second later (0: no limit).
            """)
    var requestLogLimit = 100

    /// `requestLogLimit` for `ObservabilityOptions` (nil: no limit).
    var requestLogLinesPerSecond: Int? { requestLogLimit > 0 ? requestLogLimit : nil }

    /// Installs the log handler and returns the request logger.
    func bootstrap() throws -> Logger {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError(
                "--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), got '\(logLevel)'")
        }
        guard let format = LogLine.Format(rawValue: logFormat) else {
            throw ValidationError("--log-format must be text or json, got '\(logFormat)'")
        }
        guard requestLogLimit >= 0 else {
            throw ValidationError("--request-log-limit must be 0 (no limit) or more, got \(requestLogLimit)")
        }
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, level: level, format: format) }
        return Logger(label: "capstan.rpc")
    }
}

/// Who may call the API, shared by the daemons.
struct AuthFlags: ParsableArguments {
    @Option(
        help: """
            File of bearer tokens, one TOKEN,NAME[,read-only] per line (# comments): callers of the API services must \
            send "authorization: Bearer TOKEN"; read-only names may only Get, List and Watch. Without it nothing \
            authenticates callers.
            """)
    var tokenFile: String?

    /// The token check for the API services, if a token file was given.
    func interceptors() throws -> [any ServerInterceptor] {
        guard let tokenFile else { return [] }
        let text: String
        do {
            text = try String(contentsOfFile: tokenFile, encoding: .utf8)
        } catch {
            throw ValidationError("--token-file \(tokenFile): cannot read it: \(error.localizedDescription)")
        }
        do {
            let tokens = try TokenAuthenticator.tokens(fromFile: text)
            guard !tokens.isEmpty else { throw ValidationError("--token-file \(tokenFile): no tokens in it") }
            return [TokenAuthenticator(tokens: tokens)]
        } catch let error as TokenAuthenticator.TokenFileError {
            throw ValidationError("--token-file \(tokenFile): \(error)")
        }
    }
}

/// How a daemon stops, shared by the daemons.
struct ShutdownFlags: ParsableArguments {
    // The next word whatever it looks like: `-1` is a (refused) value, not an unknown option.
    @Option(
        parsing: .unconditional,
        help: """
            Seconds a stop (SIGINT, SIGTERM, SIGHUP) waits for calls in flight to finish before it ends them; a \
            second signal ends them at once.
            """)
    var shutdownGracePeriod: Double = 10

    func gracePeriod() throws -> Duration {
        guard shutdownGracePeriod.isFinite, shutdownGracePeriod >= 0, shutdownGracePeriod <= 86_400 else {
            throw ValidationError("--shutdown-grace-period must be between 0 and 86400 seconds, got \(shutdownGracePeriod)")
        }
        return .milliseconds(Int64(shutdownGracePeriod * 1_000))
    }
}

/// The daemons' shared flags, checked as `validate()` does.
func validateCommon(listen: String, metricsListen: String?, shutdown: ShutdownFlags) throws {
    do {
        _ = try parseListenAddress(listen)
    } catch {
        throw ValidationError(error.description)
    }
    _ = try parseMetricsListen(metricsListen)
    _ = try shutdown.gracePeriod()
}

/// `--metrics-listen HOST:PORT`, or `off`/empty for none.
func parseMetricsListen(_ text: String?) throws -> (host: String, port: Int)? {
    guard let text, !text.isEmpty, text != "off" else { return nil }
    do {
        return try parseListenAddress(text, flag: "--metrics-listen")
    } catch {
        throw ValidationError(error.description)
    }
}

struct APIServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apiserver", abstract: "Serve the Capstan API over gRPC from a store.")

    @Option(help: "HOST:PORT to listen on.")
    var listen = defaultListen

    @Option(help: "sqlite:DIRECTORY (embedded, durable) or etcd:HOST:PORT[,HOST:PORT…].")
    var store: String

    @Option(help: "HOST:PORT to serve Prometheus metrics on (GET /metrics); none unless given.")
    var metricsListen: String?

    @OptionGroup var log: LogFlags
    @OptionGroup var auth: AuthFlags
    @OptionGroup var shutdown: ShutdownFlags

    /// Checked after parsing, so that a bad value is reported with this command's usage.
    func validate() throws {
        do {
            _ = try StoreAddress(parsing: store)
        } catch {
            throw ValidationError(error.description)
        }
        try validateCommon(listen: listen, metricsListen: metricsListen, shutdown: shutdown)
    }

    func run() async throws {
        let address: StoreAddress
        do {
            address = try StoreAddress(parsing: store)
        } catch {
            throw ValidationError(error.description)
        }
        let metrics = try parseMetricsListen(metricsListen)
        let grace = try shutdown.gracePeriod()
        let interceptors = try auth.interceptors()
        let logger = try log.bootstrap()
        try await serveAPI(
            listen: listen, store: address, metricsListen: metrics, logger: logger,
            requestLogLinesPerSecond: log.requestLogLinesPerSecond, interceptors: interceptors,
            gracePeriod: grace)
    }
}

struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run a whole cluster on this machine on the embedded store (for now: the API server).")

    @Option(help: "Directory of the embedded store.")
    var dataDir = defaultDataDirectory

    /// `$HOME/.capstan/data` (the account's home when HOME is unset), as capctl finds its config.
    static var defaultDataDirectory: String {
        let home = StoreAddress.homeDirectory ?? FileManager.default.homeDirectoryForCurrentUser.path
        return URL(fileURLWithPath: home).appendingPathComponent(".capstan/data").path
    }

    @Option(help: "HOST:PORT to listen on.")
    var listen = defaultListen

    @Option(help: "HOST:PORT to serve Prometheus metrics on (GET /metrics), or off.")
    var metricsListen = defaultUpMetricsListen

    @OptionGroup var log: LogFlags
    @OptionGroup var auth: AuthFlags
    @OptionGroup var shutdown: ShutdownFlags

    /// Checked after parsing, so that a bad value is reported with this command's usage.
    func validate() throws {
        try validateCommon(listen: listen, metricsListen: metricsListen, shutdown: shutdown)
    }

    func run() async throws {
        let metrics = try parseMetricsListen(metricsListen)
        let grace = try shutdown.gracePeriod()
        let interceptors = try auth.interceptors()
        let logger = try log.bootstrap()
        // The store creates the directory (0700) and its missing parents, as for `apiserver`.
        try await serveAPI(
            listen: listen, store: .sqlite(StoreAddress.expandingTilde(dataDir)), metricsListen: metrics, logger: logger,
            requestLogLinesPerSecond: log.requestLogLinesPerSecond, interceptors: interceptors,
            gracePeriod: grace)
    }
}

/// Opens the store, serves the API until SIGINT, SIGTERM or SIGHUP (a closed terminal), then
/// drains (for at most `gracePeriod`, or until a second signal) and closes. Says where it
/// listens as soon as it does, and again once the watch caches hold the store (until then reads
/// wait for them, or fail UNAVAILABLE while the store cannot be reached); a store that cannot be
/// read within the start-up timeout stops it with an error.
func serveAPI(
    listen: String, store address: StoreAddress, metricsListen: (host: String, port: Int)?, logger: Logger,
    requestLogLinesPerSecond: Int?, interceptors: [any ServerInterceptor], gracePeriod: Duration
) async throws {
    let (host, port): (String, Int)
    do {
        (host, port) = try parseListenAddress(listen)
    } catch {
        throw ValidationError(error.description)
    }
    if !Allocator.startBackgroundPurging() {
        logger.notice("jemalloc's background purging is off: freed memory returns to the system only under load")
    }
    var observability = ObservabilityOptions(requestLogger: logger, metrics: true, metricsListen: metricsListen)
    observability.requestLogLinesPerSecond = requestLogLinesPerSecond
    let server = try await APIServerHost.start(
        store: address, host: host, port: port,
        observability: observability,
        interceptors: interceptors, waitUntilReady: false)
    if interceptors.isEmpty, !isLoopbackAddress(host) {
        // Through the logger: standard error holds log lines only (JSON ones with --log-format json).
        logger.warning(
            "listening without --token-file: anyone who can reach it can read and change the cluster",
            metadata: ["address": "\(host)"])
    }
    print("capstan: API server listening on \(server.address) (store: \(address); memory: \(Allocator.summary))")
    print("capstan: reach it with any gRPC client, e.g. grpcurl -plaintext \(server.address) list")
    if let endpoint = server.metricsEndpoint {
        print("capstan: Prometheus metrics at http://\(endpoint.address)/metrics")
    }
    fflush(nil)

    let stopSignals = [SIGINT, SIGTERM, SIGHUP]
    for number in stopSignals { signal(number, SIG_IGN) }
    let signals = SignalCount()
    var sources: [any DispatchSourceSignal] = []
    for number in stopSignals {
        let source = DispatchSource.makeSignalSource(signal: number)
        source.setEventHandler { @Sendable [server] in
            if signals.next() == 1 {
                print("capstan: shutting down (calls in flight get \(gracePeriod); a second signal ends them now)")
                fflush(nil)
                server.shutDown(gracePeriod: gracePeriod)
            } else {
                print("capstan: ending the calls in flight")
                fflush(nil)
                server.abort()
            }
        }
        source.resume()
        sources.append(source)
    }
    let startFailure = Mutex<(any Error)?>(nil)
    let ready = Task { @Sendable [server] in
        do {
            try await server.waitUntilReady()
            let cached = server.api.cached
            let held = cached.revision <= 0 ? "an empty store" : "revision \(cached.revision), \(objects(cached.objects))"
            print("capstan: the API is ready: the store answers and the watch caches hold it (\(held))")
            fflush(nil)
        } catch where !Task.isCancelled {
            startFailure.withLock { $0 = error }
            server.abort()
        } catch {}
    }
    await server.waitUntilStopped()
    ready.cancel()
    await server.stop(gracePeriod: gracePeriod)
    withExtendedLifetime(sources) {}
    if let error = startFailure.withLock({ $0 }) { throw error }
    print("capstan: stopped")
}

/// Signals received so far (a second one forces the stop).
final class SignalCount: Sendable {
    private let count = Atomic<Int>(0)

    /// Counts one more signal and returns how many there have been.
    func next() -> Int { count.add(1, ordering: .relaxed).newValue }
}
