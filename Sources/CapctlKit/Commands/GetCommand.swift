import ArgumentParser
import CapstanAPI
import CapstanRPC
import Synchronization

/// `capctl get KIND [NAME]`: lists or shows objects; `-w` keeps printing changes.
struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Print objects of a kind as a table, YAML, JSON or names; -w follows changes.")

    @Argument(
        help: "pods (po), replicationcontrollers (rc), services (svc), endpoints (ep), minions (mi); or KIND/NAME.",
        completion: Kind.completion)
    var kind: String

    @Argument(help: "Objects' names (else every object), or more KIND/NAMEs of the same kind.")
    var names: [String] = []

    @Option(name: [.customShort("l"), .customLong("selector")], help: "Label selector, e.g. app=web,tier!=db.")
    var selector: String?

    @Option(name: .customLong("field-selector"), help: "Field selector, e.g. spec.host=minion-1, status.phase=Running.")
    var fieldSelector: String?

    @Flag(name: [.customShort("A"), .customLong("all-namespaces")], help: "Every namespace (adds a NAMESPACE column).")
    var allNamespaces = false

    @Option(name: [.short, .customLong("output")], help: "Output format.")
    var output: OutputFormat = .table

    @Flag(name: [.short, .long], help: "After the current objects, print each change until interrupted.")
    var watch = false

    @Option(name: .customLong("max-events"), help: .hidden)
    var maxEvents: Int?

    @Option(name: .customLong("watch-seconds"), help: .hidden)
    var watchSeconds: Double?

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        guard let (kind, names) = try Kind.targets([kind] + names) else { return }
        try await get(kind.resource, names: names)
    }

    private func get<R: CLIResource>(_ type: R.Type, names: [String]) async throws {
        let console = Console.current
        let limit = try watchSeconds.map { seconds throws(CapctlError) in try Seconds.duration(seconds, flag: "--watch-seconds") }
        // One object lives in one namespace: a NAME with -A would name several, or an arbitrary one.
        if !names.isEmpty && allNamespaces && R.kind.isNamespaced {
            throw CapctlError.usage("a NAME cannot be looked up in every namespace (-A): give its namespace with -n")
        }
        if names.count > 1 {
            guard selector == nil, fieldSelector == nil else {
                throw CapctlError.usage("NAMEs and -l/--field-selector cannot be used together")
            }
            guard !watch else { throw CapctlError.usage("-w follows one NAME, or a list: not several NAMEs") }
        }
        let name = names.count == 1 ? names.first : nil
        try await global.withConnection { connection, settings in
            let home = R.kind.isNamespaced ? settings.namespace : ""
            let namespace = allNamespaces ? "" : home
            var printer = ObjectPrinter<R>(format: output, console: console, showNamespace: allNamespaces, watching: watch)
            var revision: UInt64 = 0
            if names.count > 1 {
                // Those found are printed, the others reported, as kubectl does.
                var found: [R] = []
                var failures = 0
                for (index, name) in names.enumerated() {
                    do {
                        found.append(try await connection.get(R.self, namespace: home, name: name))
                    } catch let error as RPCError {
                        console.error(console.colored("error: ", .red) + "\(R.kind.singular)/\(name): " + CapctlError.describe(error))
                        failures += 1
                        // No server answers: the rest would wait for the same answer.
                        if BatchWrite.serverDidNotAnswer(error) {
                            let left = names.count - index - 1
                            if left > 0 { console.error(console.colored("error: ", .red) + "stopped: \(left) more not asked for") }
                            break
                        }
                    }
                }
                try printer.printList(found, singleObject: false)
                if failures > 0 { throw CapctlError.failed(count: failures) }
                return
            }
            if let name {
                guard selector == nil, fieldSelector == nil else {
                    throw CapctlError.usage("a NAME and -l/--field-selector cannot be used together")
                }
                let object: R
                do {
                    (object, revision) = try await one(R.self, connection: connection, namespace: home, name: name)
                } catch let error as RPCError {
                    throw CapctlError.server(error, context: "")
                }
                try printer.printList([object], singleObject: true)
            } else {
                var request = ListRequest()
                request.namespace = namespace
                request.labelSelector = selector ?? ""
                request.fieldSelector = fieldSelector ?? ""
                let list: (items: [R], revision: UInt64)
                do {
                    list = try await connection.list(R.self, request)
                } catch let error as RPCError {
                    throw CapctlError.server(error, context: "")
                }
                let scope = R.kind.isNamespaced ? (allNamespaces ? " in any namespace" : " in namespace \(namespace)") : ""
                try printer.printList(list.items, singleObject: false, emptyNote: "No \(R.kind.plural) found\(scope).")
                revision = list.revision
            }
            if watch {
                try await follow(
                    R.self, connection: connection, namespace: namespace, name: name, from: revision, limit: limit,
                    printer: &printer)
            }
        }
    }

    /// The object `name`, and the revision a watch of it may start from. Watching, that is a
    /// listing's (the store's current revision): the object's own may be older than the history
    /// the server keeps (OUT_OF_RANGE).
    private func one<R: CLIResource>(
        _ type: R.Type, connection: APIConnection, namespace: String, name: String
    ) async throws -> (R, UInt64) {
        if watch {
            var request = ListRequest()
            request.namespace = namespace
            request.fieldSelector = "metadata.name=\(name)"
            let list = try await connection.list(R.self, request)
            if let object = list.items.first { return (object, list.revision) }
        }
        // Not watching, or not there when listed: the Get's answer (NOT_FOUND, or one created since).
        let object = try await connection.get(R.self, namespace: namespace, name: name)
        return (object, object.metadata.resourceVersion)
    }

    /// Prints each change after `revision` until interrupted, `--max-events` or `--watch-seconds`.
    /// A watch the server drops (a watcher too slow: RESOURCE_EXHAUSTED) or loses (UNAVAILABLE: a
    /// restart, or failover to another server) resumes from the last revision seen, for up to
    /// 60 s of failed attempts (saying every 15 s that it still tries); other errors end it.
    private func follow<R: CLIResource>(
        _ type: R.Type, connection: APIConnection, namespace: String, name: String?, from revision: UInt64,
        limit: Duration?, printer: inout ObjectPrinter<R>
    ) async throws {
        let console = Console.current
        var request = WatchRequest()
        request.namespace = namespace
        request.labelSelector = selector ?? ""
        var fields: [String] = []
        if let fieldSelector, !fieldSelector.isEmpty { fields.append(fieldSelector) }
        if let name { fields.append("metadata.name=\(name)") }
        request.fieldSelector = fields.joined(separator: ",")
        request.resourceVersion = revision
        request.allowBookmarks = true  // bookmarks move the resume point past events filtered out

        let current = CurrentWatch()
        let deadline = limit.map { ContinuousClock.now.advanced(by: $0) }
        // Ends the watch at the deadline (tests bound it this way; users press Ctrl-C).
        let timer = Task {
            guard let deadline else { return }
            try? await Task.sleep(until: deadline, clock: .continuous)
            current.expire()
        }
        defer { timer.cancel() }
        var count = 0
        var failingSince: ContinuousClock.Instant?
        var lastNotice = ContinuousClock.now
        while !current.isExpired {
            do {
                let events = try await connection.watch(R.self, request)
                failingSince = nil  // a server answered: a later outage gets its own 60 s
                current.set { events.cancel() }
                for try await (type, object) in events {
                    request.resourceVersion = max(request.resourceVersion, object.metadata.resourceVersion)
                    if type == .bookmark { continue }
                    try printer.printOne(object, event: type)
                    count += 1
                    if let limit = maxEvents, count >= limit {
                        events.cancel()
                        return
                    }
                }
                if current.isExpired { return }
                throw RPCError(code: .unavailable, message: "the server ended the watch")
            } catch let error as RPCError {
                if current.isExpired { return }
                guard WatchResume.isResumable(error) else {
                    throw CapctlError.server(error, context: "watch")
                }
                if failingSince == nil {
                    console.error("watch interrupted (\(error.status)); resuming from revision \(request.resourceVersion)")
                    lastNotice = .now
                } else if ContinuousClock.now - lastNotice >= .seconds(15) {
                    // A person is watching a silent terminal: say that it still tries, and until when.
                    let waited = Int((ContinuousClock.now - (failingSince ?? .now)).components.seconds)
                    console.error("watch: still trying to resume (\(waited) s of 60 s): \(error.status)")
                    lastNotice = .now
                }
                let since = failingSince ?? .now
                failingSince = since
                guard ContinuousClock.now - since < .seconds(60) else { throw CapctlError.server(error, context: "watch") }
                try await Task.sleep(for: WatchResume.pause)
            }
        }
    }
}

/// The call a watch is on, so a timer can end it; and whether its time is up.
private final class CurrentWatch: Sendable {
    private let state = Mutex<(cancel: (@Sendable () -> Void)?, expired: Bool)>((nil, false))

    var isExpired: Bool { state.withLock { $0.expired } }

    /// The running call's cancel; called at once when the time is already up.
    func set(_ cancel: @escaping @Sendable () -> Void) {
        let expired = state.withLock { state in
            state.cancel = cancel
            return state.expired
        }
        if expired { cancel() }
    }

    func expire() {
        let cancel = state.withLock { state in
            state.expired = true
            return state.cancel
        }
        cancel?()
    }
}

/// How capctl's watches (`get -w`, the wait of `resize` and `stop`) go on after a failure.
enum WatchResume {
    /// Whether a watch that failed with `error` is started again from its last revision: the
    /// server stopped, died or restarts (UNAVAILABLE), or ended a watcher that fell behind
    /// (RESOURCE_EXHAUSTED).
    static func isResumable(_ error: RPCError) -> Bool {
        error.code == .unavailable || error.code == .resourceExhausted
    }

    /// The pause before it starts again.
    static let pause = Duration.milliseconds(500)
}
