extension Validation {
    /// Problems of a pod spec at `path` (`spec`, or `spec.template.spec` in a controller): at least
    /// one container; container names DNS-1123 labels and unique; an image; container ports 1–65535,
    /// host ports 0 (none) or 1–65535 and unique per (port, protocol) in the pod, port names unique
    /// in their container; environment variable names as Kubernetes takes them; volume names
    /// unique with a source; volume mounts naming declared volumes; non-negative resources; probes
    /// with a handler and valid ports; known enum values.
    public static func podSpec(_ spec: PodSpec, path: FieldPath) -> FieldErrors {
        var errors = FieldErrors()
        let volumeNames = volumes(spec.volumes, path: path, errors: &errors)
        if spec.containers.isEmpty {
            errors.add(path.child("containers"), "at least one container is required")
        }
        // Paths are built only for fields that are wrong (`add(_:ifPresent:)` takes an autoclosure),
        // and a set of names only for pods with many containers: validation runs on every write.
        var containerNames = Repeats(count: spec.containers.count)
        var hostPorts: [String: FieldPath] = [:]
        for (index, container) in spec.containers.enumerated() {
            func containerPath() -> FieldPath { path.child("containers").index(index) }
            if let reason = DNS1123.labelViolation(container.name) {
                errors.add(containerPath().child("name"), reason)
            } else if containerNames.repeats(container.name, at: index, of: spec.containers, \.name) {
                errors.add(containerPath().child("name"), "duplicate container name \"\(container.name)\"")
            }
            if container.image.isEmpty {
                errors.add(containerPath().child("image"), "must not be empty")
            }
            var portNames = Repeats(count: container.ports.count)
            for (portIndex, port) in container.ports.enumerated() {
                func portPath() -> FieldPath { containerPath().child("ports").index(portIndex) }
                errors.add(portPath().child("container_port"), ifPresent: portViolation(port.containerPort))
                errors.add(portPath().child("protocol"), ifPresent: enumViolation(port.protocol))
                if port.hostPort != 0 {
                    if let reason = portViolation(port.hostPort) {
                        errors.add(portPath().child("host_port"), reason + " (0 means no host port)")
                    } else {
                        let proto = port.protocol == .udp ? "UDP" : "TCP"
                        let key = "\(port.hostPort)/\(proto)"
                        if let first = hostPorts[key] {
                            errors.add(portPath().child("host_port"), "duplicate host port \(key): already used by \(first)")
                        } else {
                            hostPorts[key] = portPath().child("host_port")
                        }
                    }
                }
                if !port.name.isEmpty {
                    if let reason = DNS1123.labelViolation(port.name) {
                        errors.add(portPath().child("name"), reason)
                    } else if portNames.repeats(port.name, at: portIndex, of: container.ports, \.name) {
                        // A port is looked up by name (a service's or a probe's named port).
                        errors.add(portPath().child("name"), "duplicate port name \"\(port.name)\" in this container")
                    }
                }
            }
            for (envIndex, variable) in container.env.enumerated() {
                errors.add(containerPath().child("env").index(envIndex).child("name"), ifPresent: envNameViolation(variable.name))
            }
            errors.add(
                containerPath().child("resources").child("cpu_millis"),
                ifPresent: nonNegativeViolation(container.resources.cpuMillis))
            errors.add(
                containerPath().child("resources").child("memory_bytes"),
                ifPresent: nonNegativeViolation(container.resources.memoryBytes))
            for (mountIndex, mount) in container.volumeMounts.enumerated() {
                func mountPath() -> FieldPath { containerPath().child("volume_mounts").index(mountIndex) }
                if mount.name.isEmpty {
                    errors.add(mountPath().child("name"), "must not be empty")
                } else if !volumeNames.contains(mount.name) {
                    errors.add(mountPath().child("name"), "no volume named \"\(mount.name)\" in \(path.child("volumes"))")
                }
                if mount.mountPath.isEmpty {
                    errors.add(mountPath().child("mount_path"), "must not be empty")
                }
            }
            if container.hasLivenessProbe {
                errors.append(contentsOf: probe(container.livenessProbe, path: containerPath().child("liveness_probe")))
            }
        }
        errors.add(path.child("restart_policy"), ifPresent: enumViolation(spec.restartPolicy))
        errors.append(contentsOf: labels(spec.nodeSelector, path: path.child("node_selector")))
        if !spec.host.isEmpty {
            errors.add(path.child("host"), ifPresent: DNS1123.labelViolation(spec.host))
        }
        return errors
    }

    /// Why `name` cannot name an environment variable, or nil. As in Kubernetes: letters, digits,
    /// `_`, `-` and `.`, not starting with a digit (so never `=`, which ends a name in the
    /// environment a process gets).
    public static func envNameViolation(_ name: String) -> String? {
        guard let first = name.utf8.first else { return "must not be empty" }
        func allowed(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
                true
            default: false
            }
        }
        if name.utf8.allSatisfy(allowed), !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) { return nil }
        return "must consist of letters, digits, '_', '-' or '.', and not start with a digit (is \"\(name.prefix(64))\")"
    }

    /// Whether a name repeats one before it in a list, asked in order: a scan of the earlier
    /// elements for a short list, a set of the names seen for a long one (validation runs on
    /// every write, and most lists are short).
    struct Repeats {
        private let many: Bool
        private var seen: Set<String> = []

        init(count: Int) { many = count > 8 }

        mutating func repeats<Element>(_ name: String, at index: Int, of list: [Element], _ key: (Element) -> String) -> Bool {
            if many { return !seen.insert(name).inserted }
            return list[..<index].contains { key($0) == name }
        }
    }

    /// The names of a pod's volumes, for lookups: a scan for a few, a dictionary of each name's
    /// first position for many (hashing costs more than a scan of a few).
    private struct VolumeNames {
        let volumes: [Volume]
        let firstIndex: [String: Int]?

        init(_ volumes: [Volume]) {
            self.volumes = volumes
            firstIndex = volumes.count > 8
                ? Dictionary(volumes.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first }) : nil
        }

        func contains(_ name: String) -> Bool {
            if let firstIndex { return firstIndex[name] != nil }
            return volumes.contains { $0.name == name }
        }

        /// Whether a volume before the one at `index` has its name.
        func repeatsEarlier(_ index: Int) -> Bool {
            let name = volumes[index].name
            if let firstIndex { return firstIndex[name, default: index] < index }
            return volumes[..<index].contains { $0.name == name }
        }
    }

    /// Checks the volumes of the pod spec at `spec`, adding problems to `errors`; returns the
    /// declared names.
    private static func volumes(_ volumes: [Volume], path spec: FieldPath, errors: inout FieldErrors) -> VolumeNames {
        let names = VolumeNames(volumes)
        guard !volumes.isEmpty else { return names }
        for (index, volume) in volumes.enumerated() {
            // Built only for a volume that is wrong.
            func volumePath() -> FieldPath { spec.child("volumes").index(index) }
            if let reason = DNS1123.labelViolation(volume.name) {
                errors.add(volumePath().child("name"), reason)
            } else if names.repeatsEarlier(index) {
                errors.add(volumePath().child("name"), "duplicate volume name \"\(volume.name)\"")
            }
            switch volume.source {
            case nil:
                errors.add(volumePath(), "must set a source: empty_dir or host_dir")
            case .hostDir(let hostDir)?:
                if !hostDir.path.hasPrefix("/") {
                    errors.add(volumePath().child("host_dir").child("path"), "must be an absolute path (is \"\(hostDir.path)\")")
                }
            case .emptyDir?:
                break
            }
        }
        return names
    }

    private static func probe(_ probe: Probe, path: FieldPath) -> FieldErrors {
        var errors = FieldErrors()
        switch probe.handler {
        case nil:
            errors.add(path, "must set a handler: http_get, tcp_socket or exec")
        case .httpGet(let action)?:
            errors.add(path.child("http_get").child("port"), ifPresent: portViolation(action.port))
        case .tcpSocket(let action)?:
            errors.add(path.child("tcp_socket").child("port"), ifPresent: portViolation(action.port))
        case .exec(let action)?:
            if action.command.isEmpty { errors.add(path.child("exec").child("command"), "must not be empty") }
        }
        errors.add(path.child("initial_delay_seconds"), ifPresent: nonNegativeViolation(probe.initialDelaySeconds))
        errors.add(path.child("timeout_seconds"), ifPresent: nonNegativeViolation(probe.timeoutSeconds))
        errors.add(path.child("period_seconds"), ifPresent: nonNegativeViolation(probe.periodSeconds))
        errors.add(path.child("failure_threshold"), ifPresent: nonNegativeViolation(probe.failureThreshold))
        return errors
    }

    /// Problems of a pod status's addresses at `path` (`status`): `host_ip` and `pod_ip` empty
    /// (not known yet) or IP addresses. Checked where a status is written (Pods/UpdateStatus),
    /// not by `Pod.validate()`: a pod stored before the check must stay updatable.
    public static func podStatusAddresses(_ status: PodStatus, path: FieldPath) -> FieldErrors {
        var errors = FieldErrors()
        for (field, address) in [("host_ip", status.hostIp), ("pod_ip", status.podIp)] where !address.isEmpty {
            if !isIPv4(address[...]) && !isIPv6(address[...]) {
                errors.add(path.child(field), "must be an IPv4 or IPv6 address (or empty), not \"\(address.prefix(64))\"")
            }
        }
        return errors
    }

    /// Problems of a pod status at `path` (`status`): a known phase, named containers with
    /// restart counts of 0 or more. (Its addresses: `podStatusAddresses`.)
    public static func podStatus(_ status: PodStatus, path: FieldPath) -> FieldErrors {
        var errors = FieldErrors()
        errors.add(path.child("phase"), ifPresent: enumViolation(status.phase))
        for (index, container) in status.containerStatuses.enumerated() {
            let statusPath = path.child("container_statuses").index(index)
            if container.name.isEmpty { errors.add(statusPath.child("name"), "must not be empty") }
            errors.add(statusPath.child("restart_count"), ifPresent: nonNegativeViolation(container.restartCount))
        }
        return errors
    }
}
