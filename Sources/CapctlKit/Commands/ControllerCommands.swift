import ArgumentParser
import CapstanAPI
import CapstanRPC

/// `capctl run NAME --image IMAGE [--replicas N] [--port P] [-- COMMAND…]`: a replication
/// controller whose pods run one container.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Create a replication controller running IMAGE (pods labelled run=NAME).")

    @Argument(help: "Name of the controller, its pods' label run=NAME and their container.")
    var name: String

    @Option(help: "Container image.")
    var image: String

    @Option(parsing: .unconditional, help: "How many pods.")
    var replicas: Int32 = 1

    @Option(help: "Container port to declare.")
    var port: Int32?

    @Option(name: [.short, .customLong("output")], help: "Print the created controller in this format (name: one line).")
    var output: OutputFormat = .name

    @Argument(parsing: .postTerminator, help: "Command and arguments of the container (after --).")
    var command: [String] = []

    @OptionGroup var global: GlobalOptions

    /// The controller this command creates.
    func controller(namespace: String) -> ReplicationController {
        var container = Container()
        container.name = name
        container.image = image
        container.command = command
        if let port {
            var containerPort = ContainerPort()
            containerPort.containerPort = port
            container.ports = [containerPort]
        }
        var rc = ReplicationController()
        rc.metadata.name = name
        rc.metadata.namespace = namespace
        rc.metadata.labels = ["run": name]
        rc.spec.replicas = replicas
        rc.spec.selector = ["run": name]
        rc.spec.template.metadata.labels = ["run": name]
        rc.spec.template.spec.containers = [container]
        return rc
    }

    func run() async throws {
        guard replicas >= 0 else { throw CapctlError.usage("--replicas must be 0 or more") }
        let console = Console.current
        try await global.withConnection { connection, settings in
            let rc = controller(namespace: settings.namespace)
            var checked = rc
            checked.applyDefaults()
            let errors = checked.validate()
            if !errors.isEmpty {
                throw CapctlError.usage(
                    "the controller would be invalid:\n" + errors.all.map { "  \($0.path): \($0.reason)" }.joined(separator: "\n"))
            }
            let created: ReplicationController
            do {
                created = try await connection.create(rc)
            } catch let error as RPCError {
                throw CapctlError.server(error, context: "")
            }
            if output == .name {
                console.line("replicationcontroller/\(created.metadata.name) created")
            } else {
                var printer = ObjectPrinter<ReplicationController>(format: output, console: console, showNamespace: false)
                try printer.printList([created], singleObject: true)
            }
        }
    }
}

/// Options of resize and stop: whether and how long to wait for the observed count.
struct WaitOptions: ParsableArguments, Sendable {
    @Flag(name: .customLong("no-wait"), help: "Return once the desired count is stored.")
    var noWait = false

    @Option(name: .customLong("wait-timeout"), parsing: .unconditional, help: "Seconds to wait for the observed count.")
    var waitTimeout: Double = 300

    /// `--wait-timeout` as a duration; a usage error when out of range.
    func timeout() throws(CapctlError) -> Duration {
        try Seconds.duration(waitTimeout, flag: "--wait-timeout")
    }
}

/// Sets `spec.replicas` (retrying on a conflicting write), then, unless `noWait`, waits until
/// `status.replicas` matches, printing progress; `timeout` is `seconds` (as given, for messages)
/// checked before. Returns the controller as written.
@discardableResult
func resize(
    name: String, to replicas: Int32, noWait: Bool, seconds: Double, timeout: Duration, connection: APIConnection,
    namespace: String
) async throws -> ReplicationController {
    let console = Console.current
    var updated: ReplicationController?
    for _ in 0..<10 {
        do {
            var rc = try await connection.get(ReplicationController.self, namespace: namespace, name: name)
            rc.spec.replicas = replicas
            updated = try await connection.update(rc)
            break
        } catch let error as RPCError where error.code == .aborted {
            continue  // written by someone else since our read: read again
        } catch let error as RPCError {
            throw CapctlError.server(error, context: "")
        }
    }
    guard let updated else {
        throw CapctlError.other("replicationcontroller/\(name): kept conflicting with other writers; try again")
    }
    if noWait {
        console.line("replicationcontroller/\(name) resized to \(replicas)")
        return updated
    }
    try await waitForReplicas(updated, replicas: replicas, timeout: timeout, seconds: seconds, connection: connection)
    console.line("replicationcontroller/\(name) resized to \(replicas)")
    return updated
}

/// Watches the controller until its observed count is `replicas`; a progress line shows the count
/// (rewritten in place on a terminal, one line per change otherwise). `seconds` is `timeout` as
/// given, for messages.
private func waitForReplicas(
    _ rc: ReplicationController, replicas: Int32, timeout: Duration, seconds: Double, connection: APIConnection
) async throws {
    let console = Console.current
    let name = rc.metadata.name
    var lastShown: Int32?
    // Whether a progress line is open on the terminal (rewritten in place until finished).
    var lineOpen = false
    func show(_ observed: Int32) {
        guard observed != lastShown else { return }
        lastShown = observed
        let text = "replicationcontroller/\(name): \(observed)/\(replicas) replicas"
        if console.isTerminal {
            console.write("\r\u{1B}[K" + text)
            lineOpen = true
        } else {
            console.line(text)
        }
    }
    func finishLine() {
        if lineOpen { console.write("\n") }
        lineOpen = false
    }
    show(rc.status.replicas)
    if rc.status.replicas == replicas {
        finishLine()
        return
    }
    var request = WatchRequest()
    request.namespace = rc.metadata.namespace
    request.fieldSelector = "metadata.name=\(name)"
    request.resourceVersion = rc.metadata.resourceVersion
    request.allowBookmarks = true  // bookmarks move the resume point on
    let deadline = ContinuousClock.now.advanced(by: timeout)
    // A watch the server ends, or one that fails because the server stopped, died or restarts,
    // resumes from the last revision seen until the wait's deadline, as `get -w` does.
    var interrupted = false
    while ContinuousClock.now < deadline {
        do {
            // Bounded by the wait's deadline, its start (retried while no server answers) too.
            let events = try await connection.watch(
                ReplicationController.self, request, timeout: ContinuousClock.now.duration(to: deadline))
            let timer = Task {
                try? await Task.sleep(until: deadline, clock: .continuous)
                events.cancel()
            }
            defer { timer.cancel() }
            for try await (type, object) in events {
                request.resourceVersion = max(request.resourceVersion, object.metadata.resourceVersion)
                if type == .deleted {
                    finishLine()
                    throw CapctlError.other("replicationcontroller/\(name) was deleted while waiting")
                }
                guard type == .added || type == .modified else { continue }
                show(object.status.replicas)
                if object.status.replicas == replicas {
                    events.cancel()
                    finishLine()
                    return
                }
            }
        } catch let error as RPCError where error.code == .outOfRange && ContinuousClock.now < deadline {
            // The revision is too old to resume from (compacted, or a restored store): read the
            // controller again and go on from there.
            do {
                let current = try await connection.get(
                    ReplicationController.self, namespace: rc.metadata.namespace, name: name)
                show(current.status.replicas)
                if current.status.replicas == replicas {
                    finishLine()
                    return
                }
                request.resourceVersion = current.metadata.resourceVersion
            } catch let error as RPCError {
                finishLine()
                throw CapctlError.server(error, context: "")
            }
            continue
        } catch let error as RPCError {
            guard ContinuousClock.now < deadline else { break }
            guard WatchResume.isResumable(error) else {
                finishLine()
                throw CapctlError.server(error, context: "watch")
            }
            if !interrupted {
                finishLine()
                console.error("watch interrupted (\(error.status)); resuming from revision \(request.resourceVersion)")
                interrupted = true
            }
        }
        guard ContinuousClock.now < deadline else { break }
        try await Task.sleep(for: WatchResume.pause)
    }
    finishLine()
    throw timedOut()

    func timedOut() -> CapctlError {
        // The desired count is stored all the same: say so, lest the resize be taken for failed.
        .other(
            "replicationcontroller/\(name) is set to \(replicas) replicas, but timed out after \(seconds)s waiting for "
                + "them: \(lastShown ?? 0) of \(replicas) replicas observed (the controller manager reports the count)")
    }
}

/// `capctl resize RC N`.
struct ResizeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resize",
        abstract: "Set a replication controller's replica count and wait until that many are observed.")

    @Argument(help: "The replication controller.")
    var name: String

    @Argument(help: "The new replica count.")
    var replicas: Int32

    @OptionGroup var wait: WaitOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        guard replicas >= 0 else { throw CapctlError.usage("the replica count must be 0 or more, not \(replicas)") }
        let timeout = try wait.timeout()  // before anything is written
        try await global.withConnection { connection, settings in
            _ = try await resize(
                name: name, to: replicas, noWait: wait.noWait, seconds: wait.waitTimeout, timeout: timeout,
                connection: connection, namespace: settings.namespace)
        }
    }
}

/// `capctl stop RC`: resize to 0, wait until the observed count is 0 and no pod matches the
/// controller's selector any more, then delete the controller. Deleting it first would leave its
/// pods running with nothing to stop them, so there is no `--no-wait`.
struct StopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Resize a replication controller to 0, wait for its pods to go, then delete it.",
        discussion: """
            Its pods are those its selector matches in its namespace. While one is left at --wait-timeout, the \
            controller is kept (at 0 replicas) and stop fails.
            """)

    @Argument(help: "The replication controller.")
    var name: String

    @Option(
        name: .customLong("wait-timeout"), parsing: .unconditional,
        help: "Seconds to wait for the observed count to reach 0 and the pods to go.")
    var waitTimeout: Double = 300

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let console = Console.current
        let timeout = try Seconds.duration(waitTimeout, flag: "--wait-timeout")  // before anything is written
        try await global.withConnection { connection, settings in
            let start = ContinuousClock.now
            let rc = try await resize(
                name: name, to: 0, noWait: false, seconds: waitTimeout, timeout: timeout, connection: connection,
                namespace: settings.namespace)
            try await waitForPodsToGo(
                rc, deadline: start.advanced(by: timeout), seconds: waitTimeout, connection: connection)
            do {
                _ = try await connection.delete(ReplicationController.self, namespace: settings.namespace, name: name)
            } catch let error as RPCError {
                throw CapctlError.server(error, context: "")
            }
            console.line("replicationcontroller/\(name) deleted")
        }
    }
}

/// Waits (polling once a second, as kubectl's reaper did) until no pod in the controller's
/// namespace matches its selector, saying once which pods it waits for.
private func waitForPodsToGo(
    _ rc: ReplicationController, deadline: ContinuousClock.Instant, seconds: Double, connection: APIConnection
) async throws {
    let console = Console.current
    let name = rc.metadata.name
    var request = ListRequest()
    request.namespace = rc.metadata.namespace
    request.labelSelector = LabelSelector(matching: rc.spec.selector).description
    var announced = false
    while true {
        let left: [Pod]
        do {
            left = try await connection.list(Pod.self, request).items
        } catch let error as RPCError {
            throw CapctlError.server(error, context: "")
        }
        guard let pod = left.first else { return }
        if !announced {
            console.line("replicationcontroller/\(name): waiting for its pods (\(request.labelSelector)) to go")
            announced = true
        }
        guard ContinuousClock.now.advanced(by: .seconds(1)) < deadline else {
            throw CapctlError.other(
                "timed out after \(seconds)s waiting for the pods of replicationcontroller/\(name) "
                    + "(\(request.labelSelector)) to go: \(left.count) left (pod/\(pod.metadata.name)\(left.count > 1 ? ", …" : "")); "
                    + "the controller is kept, at 0 replicas")
        }
        try await Task.sleep(for: .seconds(1))
    }
}
