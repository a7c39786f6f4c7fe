import ArgumentParser
import CapstanAPI
import CapstanRPC

/// `capctl describe KIND NAME`: one object in readable form, with the objects related to it.
struct DescribeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "describe",
        abstract: "Show an object in detail with related objects (a pod's minion, a controller's pods, a service's endpoints).")

    @Argument(
        help: "pods (po), replicationcontrollers (rc), services (svc), endpoints (ep), minions (mi); or KIND/NAME.",
        completion: Kind.completion)
    var kind: String

    @Argument(help: "The object's name (none after KIND/NAME).")
    var name: String?

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        guard let (kind, names) = try Kind.targets([kind] + (name.map { [$0] } ?? [])), names.count == 1, let name = names.first
        else {
            throw CapctlError.usage("describe one object: KIND NAME, or KIND/NAME")
        }
        let console = Console.current
        try await global.withConnection { connection, settings in
            let namespace = kind.isNamespaced ? settings.namespace : ""
            do {
                let text = try await describe(kind.resource, connection: connection, namespace: namespace, name: name)
                console.write(text)
            } catch let error as RPCError {
                throw CapctlError.server(error, context: "")
            }
        }
    }

    private func describe<R: CLIResource>(
        _ type: R.Type, connection: APIConnection, namespace: String, name: String
    ) async throws -> String {
        let object = try await connection.get(R.self, namespace: namespace, name: name)
        var text = Description()
        text.meta(object.metadata, namespaced: R.kind.isNamespaced)
        switch object {
        case let pod as Pod: try await Self.describe(pod, into: &text, connection: connection)
        case let rc as ReplicationController: try await Self.describe(rc, into: &text, connection: connection)
        case let service as Service: try await Self.describe(service, into: &text, connection: connection)
        case let endpoints as Endpoints: try await Self.describe(endpoints, into: &text, connection: connection)
        case let minion as Minion: try await Self.describe(minion, into: &text, connection: connection)
        default: break
        }
        return text.text
    }

    private static func describe(_ pod: Pod, into text: inout Description, connection: APIConnection) async throws {
        text.field("Status", pod.phaseName)
        if !pod.status.message.isEmpty { text.field("Message", pod.status.message) }
        text.field("Pod IP", pod.status.podIp)
        let policy = pod.spec.restartPolicy == .unspecified ? RestartPolicy.always : pod.spec.restartPolicy
        text.field("Restart Policy", displayName(policy))
        if !pod.spec.nodeSelector.isEmpty { text.field("Node Selector", formatLabels(pod.spec.nodeSelector)) }
        text.containers(pod.spec.containers, statuses: pod.status.containerStatuses)
        text.volumes(pod.spec.volumes)
        if pod.spec.host.isEmpty {
            text.field("Minion", "<unassigned>")
        } else {
            text.section("Minion")
            do {
                let minion = try await connection.get(Minion.self, namespace: "", name: pod.spec.host)
                text.table(Minion.headers(wide: false), [minion.cells(wide: false)])
            } catch let error as RPCError where error.code == .notFound {
                text.line("  \(pod.spec.host) (not found)")
            }
        }
    }

    private static func describe(_ rc: ReplicationController, into text: inout Description, connection: APIConnection) async throws {
        text.field("Selector", formatLabels(rc.spec.selector))
        text.field("Replicas", "\(rc.status.replicas) current / \(rc.spec.replicas) desired")
        text.field("Pod Template Labels", formatLabels(rc.spec.template.metadata.labels))
        text.containers(rc.spec.template.spec.containers, statuses: [])
        text.volumes(rc.spec.template.spec.volumes)
        var request = ListRequest()
        request.namespace = rc.metadata.namespace
        request.labelSelector = formatLabels(rc.spec.selector)
        let pods = rc.spec.selector.isEmpty ? [] : try await connection.list(Pod.self, request).items
        text.relatedTable("Pods", Pod.headers(wide: false), pods.map { $0.cells(wide: false) })
    }

    private static func describe(_ service: Service, into text: inout Description, connection: APIConnection) async throws {
        let proto = service.spec.protocol == .unspecified ? Protocol.tcp : service.spec.protocol
        text.field("Selector", formatLabels(service.spec.selector))
        text.field("Port", "\(service.spec.port)/\(displayName(proto).uppercased())")
        text.field("Container Port", String(service.spec.containerPort == 0 ? service.spec.port : service.spec.containerPort))
        let affinity = service.spec.sessionAffinity == .unspecified ? SessionAffinity.none : service.spec.sessionAffinity
        text.field("Session Affinity", displayName(affinity))
        do {
            let endpoints = try await connection.get(Endpoints.self, namespace: service.metadata.namespace, name: service.metadata.name)
            text.field("Endpoints", endpoints.endpoints.joined(separator: ","))
        } catch let error as RPCError where error.code == .notFound {
            text.field("Endpoints", "")
        }
        var request = ListRequest()
        request.namespace = service.metadata.namespace
        request.labelSelector = formatLabels(service.spec.selector)
        let pods = service.spec.selector.isEmpty ? [] : try await connection.list(Pod.self, request).items
        text.relatedTable("Pods", Pod.headers(wide: false), pods.map { $0.cells(wide: false) })
    }

    private static func describe(_ endpoints: Endpoints, into text: inout Description, connection: APIConnection) async throws {
        text.section("Endpoints")
        if endpoints.endpoints.isEmpty { text.line("  <none>") }
        for endpoint in endpoints.endpoints { text.line("  \(endpoint)") }
        do {
            let service = try await connection.get(Service.self, namespace: endpoints.metadata.namespace, name: endpoints.metadata.name)
            text.relatedTable("Service", Service.headers(wide: false), [service.cells(wide: false)])
        } catch let error as RPCError where error.code == .notFound {
            text.field("Service", "")
        }
    }

    private static func describe(_ minion: Minion, into text: inout Description, connection: APIConnection) async throws {
        text.field("Status", minion.readiness)
        text.field("Address", minion.spec.address)
        if minion.spec.kubeletPort != 0 { text.field("Kubelet Port", String(minion.spec.kubeletPort)) }
        // Only what is set, as `get -o wide` shows it: 0 means not stated, not none.
        let capacity = minion.spec.capacity
        var stated: [String] = []
        if capacity.cpuMillis != 0 { stated.append("cpu \(capacity.cpuMillis)m") }
        if capacity.memoryBytes != 0 { stated.append("memory \(formatBytes(capacity.memoryBytes))") }
        if capacity.pods != 0 { stated.append("pods \(capacity.pods)") }
        text.field("Capacity", stated.joined(separator: ", "))
        if !minion.status.conditions.isEmpty {
            text.relatedTable(
                "Conditions", ["TYPE", "STATUS", "REASON", "MESSAGE"],
                minion.status.conditions.map {
                    [Cell($0.type), Cell(displayName($0.status)), Cell($0.reason), Cell($0.message)]
                })
        }
        var request = ListRequest()
        request.fieldSelector = "spec.host=\(minion.metadata.name)"
        let pods = try await connection.list(Pod.self, request).items
        text.relatedTable(
            "Pods", ["NAMESPACE"] + Pod.headers(wide: false),
            pods.map { [Cell($0.metadata.namespace)] + $0.cells(wide: false) })
    }
}

/// Builds describe's text: `Label:   value` lines, sections and indented tables.
struct Description {
    private(set) var text = ""
    private let labelWidth = 21

    /// Server data in `line` shows its control characters as escapes (`visible`).
    mutating func line(_ line: String) { text += visible(line) + "\n" }

    mutating func field(_ label: String, _ value: String) {
        line((label + ":").padding(toLength: labelWidth) + (value.isEmpty ? "<none>" : value))
    }

    mutating func section(_ label: String) { line(label + ":") }

    mutating func meta(_ meta: ObjectMeta, namespaced: Bool) {
        field("Name", meta.name)
        if namespaced { field("Namespace", meta.namespace) }
        field("Labels", formatLabels(meta.labels))
        if !meta.annotations.isEmpty { field("Annotations", formatLabels(meta.annotations)) }
        if meta.hasCreationTimestamp {
            let stamp = meta.creationTimestamp
            field("Created", (try? ProtoJSON.formatTimestamp(seconds: stamp.seconds, nanos: stamp.nanos, codingPath: [])) ?? "")
        }
    }

    mutating func containers(_ containers: [Container], statuses: [ContainerStatus]) {
        section("Containers")
        for container in containers {
            line("  \(container.name):")
            line("    Image:        \(container.image)")
            if !container.command.isEmpty { line("    Command:      \(shellWords(container.command))") }
            if !container.args.isEmpty { line("    Args:         \(shellWords(container.args))") }
            if !container.workingDir.isEmpty { line("    Working Dir:  \(container.workingDir)") }
            if !container.ports.isEmpty {
                let ports = container.ports.map { port -> String in
                    let proto = port.protocol == .unspecified ? Protocol.tcp : port.protocol
                    var text = "\(port.containerPort)/\(displayName(proto).uppercased())"
                    if port.hostPort != 0 { text += " (host \(port.hostPort))" }
                    return text
                }
                line("    Ports:        \(ports.joined(separator: ", "))")
            }
            for env in container.env { line("    Env:          \(env.name)=\(env.value)") }
            let resources = container.resources
            if resources.cpuMillis != 0 || resources.memoryBytes != 0 {
                var limits: [String] = []
                if resources.cpuMillis != 0 { limits.append("cpu \(resources.cpuMillis)m") }
                if resources.memoryBytes != 0 { limits.append("memory \(formatBytes(resources.memoryBytes))") }
                line("    Resources:    \(limits.joined(separator: ", "))")
            }
            for mount in container.volumeMounts {
                line("    Mount:        \(mount.name) at \(mount.mountPath)\(mount.readOnly ? " (read-only)" : "")")
            }
            if container.hasLivenessProbe { line("    Liveness:     \(Self.probe(container.livenessProbe))") }
            if let status = statuses.first(where: { $0.name == container.name }) {
                let state: String =
                    switch status.state {
                    case .waiting(let waiting)?: "Waiting" + (waiting.reason.isEmpty ? "" : " (\(waiting.reason))")
                    case .running?: "Running"
                    case .terminated(let done)?: "Terminated (exit code \(done.exitCode)\(done.reason.isEmpty ? "" : ", \(done.reason)"))"
                    case nil: "Unknown"
                    }
                line("    State:        \(state)")
                line("    Ready:        \(status.ready)")
                line("    Restarts:     \(status.restartCount)")
            }
        }
    }

    /// A probe in one line: its check, then its timing where set.
    static func probe(_ probe: Probe) -> String {
        var text: String
        switch probe.handler {
        case .httpGet(let get)?: text = "http-get http://\(get.host.isEmpty ? "<pod IP>" : get.host):\(get.port)\(get.path.isEmpty ? "/" : get.path)"
        case .tcpSocket(let socket)?: text = "tcp-socket :\(socket.port)"
        case .exec(let exec)?: text = "exec [\(exec.command.joined(separator: " "))]"
        case nil: text = "<no check>"
        }
        let timing = [
            ("delay", probe.initialDelaySeconds, "s"), ("timeout", probe.timeoutSeconds, "s"), ("period", probe.periodSeconds, "s"),
            ("failures", probe.failureThreshold, ""),
        ].filter { $0.1 != 0 }.map { "\($0.0)=\($0.1)\($0.2)" }
        if !timing.isEmpty { text += " " + timing.joined(separator: " ") }
        return text
    }

    /// The pod's volumes, one line each, under `Volumes:`; nothing when it has none.
    mutating func volumes(_ volumes: [Volume]) {
        guard !volumes.isEmpty else { return }
        section("Volumes")
        for volume in volumes {
            let source: String =
                switch volume.source {
                case .emptyDir?: "empty directory (lives as long as the pod)"
                case .hostDir(let host)?: "host directory \(host.path)"
                case nil: "<no source>"
                }
            line("  \(volume.name): \(source)")
        }
    }

    /// `label:` and a table indented by two spaces, or `label: <none>`.
    mutating func relatedTable(_ label: String, _ headers: [String], _ rows: [[Cell]]) {
        if rows.isEmpty {
            field(label, "")
            return
        }
        section(label)
        table(headers, rows)
    }

    mutating func table(_ headers: [String], _ rows: [[Cell]]) {
        var table = Table(headers: headers)
        table.fit(rows)
        let plain = Console(out: { _ in }, err: { _ in })
        line("  " + table.headerLine(console: plain))
        for row in rows { line("  " + table.render(row, console: plain)) }
    }
}
