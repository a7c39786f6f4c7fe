import CapstanAPI
import Testing

/// Small valid objects the validation and defaulting tests start from.
enum Fixtures {
    static func container(_ name: String, ports: [(Int32, Int32)] = []) -> Container {
        var container = Container()
        container.name = name
        container.image = "busybox"
        container.ports = ports.map { containerPort, hostPort in
            var port = ContainerPort()
            port.containerPort = containerPort
            port.hostPort = hostPort
            return port
        }
        return container
    }

    static func pod(_ name: String = "web") -> Pod {
        var pod = Pod()
        pod.metadata.name = name
        pod.spec.containers = [container("app", ports: [(80, 8080)])]
        return pod
    }
}

@Suite("Validation")
struct ValidationTests {
    func paths(_ errors: FieldErrors) -> [String] { errors.all.map(\.path.description) }

    func defaulted<T: APIObject>(_ object: T) -> T {
        var object = object
        object.applyDefaults()
        return object
    }

    @Test("a valid pod has no errors")
    func validPod() {
        #expect(defaulted(Fixtures.pod()).validate().isEmpty)
    }

    @Test("every bad field of a pod is reported at once, as paths from the root")
    func everyPodError() {
        var pod = Fixtures.pod("Bad_Name")
        pod.metadata.labels = ["-x": "ok", "ok": "-bad"]
        var second = Fixtures.container("app", ports: [(0, 8080), (70000, 0)])
        second.resources.cpuMillis = -1
        second.resources.memoryBytes = -5
        var mount = VolumeMount()
        mount.name = "data"
        mount.mountPath = "/data"
        second.volumeMounts = [mount]
        var third = Fixtures.container("")
        third.image = ""
        pod.spec.containers.append(second)
        pod.spec.containers.append(third)
        let errors = defaulted(pod).validate()
        #expect(Set(paths(errors)) == [
            "metadata.name",
            "metadata.labels[-x]",
            "metadata.labels[ok]",
            "spec.containers[1].name",
            "spec.containers[1].ports[0].container_port",
            "spec.containers[1].ports[0].host_port",
            "spec.containers[1].ports[1].container_port",
            "spec.containers[1].resources.cpu_millis",
            "spec.containers[1].resources.memory_bytes",
            "spec.containers[1].volume_mounts[0].name",
            "spec.containers[2].name",
            "spec.containers[2].image",
        ])
        let duplicate = errors.all.first { $0.path == "spec.containers[1].name" }
        #expect(duplicate?.reason.contains("duplicate") == true)
        let hostPort = errors.all.first { $0.path == "spec.containers[1].ports[0].host_port" }
        #expect(hostPort?.reason.contains("8080/TCP") == true)
    }

    @Test("duplicate container names are reported at each repeat, in small and large pods", arguments: [4, 9, 20])
    func duplicateContainerNames(count: Int) {
        var pod = Fixtures.pod()
        let template = pod.spec.containers[0]
        pod.spec.containers = (0..<count).map { index in
            var container = template
            container.name = "c\(index)"
            container.ports = []
            return container
        }
        pod.spec.containers[1].name = "c0"
        pod.spec.containers[count - 1].name = "c0"
        pod.spec.containers[count - 2].name = "Bad"
        let errors = defaulted(pod).validate()
        #expect(paths(errors) == ["spec.containers[1].name", "spec.containers[\(count - 2)].name", "spec.containers[\(count - 1)].name"])
        #expect(errors.all.filter { $0.reason == "duplicate container name \"c0\"" }.count == 2)
    }

    @Test("a pod needs at least one container")
    func noContainers() {
        var pod = Fixtures.pod()
        pod.spec.containers = []
        #expect(paths(defaulted(pod).validate()) == ["spec.containers"])
    }

    @Test("the same host port on different protocols is allowed; volume mounts of declared volumes pass")
    func hostPortsAndVolumes() {
        var pod = Fixtures.pod()
        var udp = ContainerPort()
        udp.containerPort = 53
        udp.hostPort = 8080
        udp.protocol = .udp
        pod.spec.containers[0].ports.append(udp)
        var volume = Volume()
        volume.name = "data"
        volume.source = .emptyDir(EmptyDirVolume())
        pod.spec.volumes = [volume]
        var mount = VolumeMount()
        mount.name = "data"
        mount.mountPath = "/data"
        pod.spec.containers[0].volumeMounts = [mount]
        #expect(defaulted(pod).validate().isEmpty)
    }

    @Test("volumes need unique names and a source; probes need a handler and valid ports")
    func volumesAndProbes() {
        var pod = Fixtures.pod()
        var first = Volume()
        first.name = "data"
        first.source = .hostDir({ var h = HostDirVolume(); h.path = "relative"; return h }())
        var second = Volume()
        second.name = "data"
        pod.spec.volumes = [first, second]
        var probe = Probe()
        probe.handler = .tcpSocket(TCPSocketAction())
        pod.spec.containers[0].livenessProbe = probe
        #expect(Set(paths(defaulted(pod).validate())) == [
            "spec.volumes[0].host_dir.path", "spec.volumes[1].name", "spec.volumes[1]",
            "spec.containers[0].liveness_probe.tcp_socket.port",
        ])
    }

    @Test("duplicate volume names and mounts of undeclared volumes are found alike for few and many volumes", arguments: [3, 12])
    func volumeNames(count: Int) {
        var pod = Fixtures.pod()
        pod.spec.volumes = (0..<count).map { index in
            var volume = Volume()
            volume.name = index == count - 1 ? "v0" : "v\(index)"
            volume.source = .emptyDir(EmptyDirVolume())
            return volume
        }
        pod.spec.containers[0].volumeMounts = ["v1", "missing"].map { name in
            var mount = VolumeMount()
            mount.name = name
            mount.mountPath = "/\(name)"
            return mount
        }
        #expect(Set(paths(defaulted(pod).validate())) == [
            "spec.volumes[\(count - 1)].name", "spec.containers[0].volume_mounts[1].name",
        ])
    }

    @Test("unknown enum numbers are rejected")
    func unknownEnums() {
        var pod = Fixtures.pod()
        pod.spec.restartPolicy = .unrecognized(9)
        pod.status.phase = .unrecognized(9)
        #expect(Set(paths(defaulted(pod).validate())) == ["spec.restart_policy", "status.phase"])
    }

    @Test("a pod's host and pod IPs are empty or IP addresses (checked where a status is written)")
    func statusAddresses() {
        var status = PodStatus()
        #expect(Validation.podStatusAddresses(status, path: "status").isEmpty)
        status.hostIp = "10.0.0.1"
        status.podIp = "fd00::5"
        #expect(Validation.podStatusAddresses(status, path: "status").isEmpty)
        status.hostIp = "minion-1"
        status.podIp = "10.0.0.256"
        #expect(Set(paths(Validation.podStatusAddresses(status, path: "status"))) == ["status.host_ip", "status.pod_ip"])
        // Not part of a pod's own validation: a pod stored before the check stays updatable.
        var pod = Fixtures.pod()
        pod.status = status
        #expect(defaulted(pod).validate().isEmpty)
    }

    @Test("minions are cluster-scoped: a namespace is an error")
    func minion() {
        var minion = Minion()
        minion.metadata.name = "m1"
        #expect(defaulted(minion).validate().isEmpty)
        minion.metadata.namespace = "default"
        minion.spec.kubeletPort = 70000
        minion.spec.capacity.pods = -1
        #expect(Set(paths(defaulted(minion).validate())) == ["metadata.namespace", "spec.kubelet_port", "spec.capacity.pods"])
    }

    @Test("services: port and protocol")
    func service() {
        var service = Service()
        service.metadata.name = "web"
        service.spec.port = 80
        #expect(defaulted(service).validate().isEmpty)
        service.spec.port = 0
        service.spec.protocol = .unrecognized(7)
        service.spec.containerPort = 65536
        #expect(Set(paths(defaulted(service).validate())) == ["spec.port", "spec.protocol", "spec.container_port"])
        // A bad port with no container port is reported once: not again as the container port it would default.
        service.spec.port = 70_000
        service.spec.containerPort = 0
        #expect(Set(paths(defaulted(service).validate())) == ["spec.port", "spec.protocol"])
    }

    @Test("controllers: the template's labels must match the selector; the template spec is a pod spec")
    func controller() {
        var controller = ReplicationController()
        controller.metadata.name = "web"
        controller.spec.replicas = 2
        controller.spec.selector = ["app": "web"]
        controller.spec.template.metadata.labels = ["app": "web", "extra": "x"]
        controller.spec.template.spec.containers = [Fixtures.container("app")]
        #expect(defaulted(controller).validate().isEmpty)
        controller.spec.template.metadata.labels = ["app": "db"]
        controller.spec.template.spec.containers = []
        controller.spec.replicas = -1
        #expect(Set(paths(defaulted(controller).validate())) == [
            "spec.replicas", "spec.template.metadata.labels", "spec.template.spec.containers",
        ])
        var empty = ReplicationController()
        empty.metadata.name = "x"
        #expect(Set(paths(defaulted(empty).validate())) == ["spec.selector", "spec.template"])
    }

    @Test("a controller's template restarts its pods ALWAYS and lives in the controller's namespace (or names none)")
    func controllerTemplate() {
        var controller = ReplicationController()
        controller.metadata.name = "web"
        controller.metadata.namespace = "prod"
        controller.spec.selector = ["app": "web"]
        controller.spec.template.metadata.labels = ["app": "web"]
        controller.spec.template.spec.containers = [Fixtures.container("app")]
        for namespace in ["", "prod"] {
            controller.spec.template.metadata.namespace = namespace
            #expect(defaulted(controller).validate().isEmpty, "\(namespace)")
        }
        controller.spec.template.metadata.namespace = "staging"
        controller.spec.template.spec.restartPolicy = .never
        let errors = defaulted(controller).validate()
        #expect(paths(errors) == ["spec.template.metadata.namespace", "spec.template.spec.restart_policy"])
        #expect(errors.all.map(\.reason) == [
            "must be empty or the controller's namespace \"prod\" (its pods are created there), not \"staging\"",
            "must be ALWAYS in a controller's template (it replaces pods that end), not RESTART_POLICY_NEVER",
        ])
        controller.spec.template.metadata.namespace = ""
        controller.spec.template.spec.restartPolicy = .onFailure
        #expect(paths(defaulted(controller).validate()) == ["spec.template.spec.restart_policy"])
    }

    @Test("environment variable names as Kubernetes takes them", arguments: [
        ("PATH", true), ("_x", true), ("a.b-c_9", true), ("-dash", true), ("1BAD", false), ("A=B", false), ("", false),
        ("é", false), ("A B", false),
    ])
    func envNames(name: String, valid: Bool) {
        var pod = Fixtures.pod()
        var variable = EnvVar()
        variable.name = name
        variable.value = "v"
        pod.spec.containers[0].env = [variable]
        #expect(paths(defaulted(pod).validate()) == (valid ? [] : ["spec.containers[0].env[0].name"]), "\(name)")
    }

    @Test("port names are unique in their container (a port is looked up by name), not across containers")
    func portNames() {
        var pod = Fixtures.pod()
        var second = Fixtures.container("side", ports: [(81, 0), (82, 0)])
        for index in pod.spec.containers[0].ports.indices { pod.spec.containers[0].ports[index].name = "http" }
        for index in second.ports.indices { second.ports[index].name = "http" }
        pod.spec.containers.append(second)
        #expect(paths(defaulted(pod).validate()) == ["spec.containers[1].ports[1].name"])
        // Many ports take the set-based check: the same verdicts.
        var many = Fixtures.container("many", ports: (1...20).map { (Int32($0), 0) })
        for index in many.ports.indices { many.ports[index].name = "p\(index % 18)" }
        pod.spec.containers = [many]
        #expect(paths(defaulted(pod).validate()) == ["spec.containers[0].ports[18].name", "spec.containers[0].ports[19].name"])
    }

    @Test("endpoints are ip:port", arguments: [
        ("10.10.1.1:1909", true), ("[::1]:80", true), ("[fe80::1:2]:8080", true),
        ("10.10.1.1", false), ("10.10.1:80", false), ("10.10.1.256:80", false), ("10.0.0.1:0", false),
        ("10.0.0.1:65536", false), ("host:80", false), ("[::1:80", false), ("", false), ("1.2.3.4:+80", false),
        // Leading zeros: octal to inet_aton (8.0.0.1), decimal to others.
        ("010.0.0.1:80", false), ("10.0.0.01:80", false), ("10.0.0.1:080", false), ("0.0.0.0:80", true),
        ("10.0.0.1:00000080", false),
        // Not ASCII: refused before any search (a long run of flag halves searched backwards
        // character by character took time quadratic in its length).
        (String(repeating: "\u{1F1FA}", count: 100_000), false), ("10.0.0.1:８０", false),
    ])
    func endpoints(endpoint: String, valid: Bool) {
        var endpoints = Endpoints()
        endpoints.metadata.name = "web"
        endpoints.endpoints = ["10.0.0.1:80", endpoint]
        let errors = defaulted(endpoints).validate()
        #expect(paths(errors) == (valid ? [] : ["endpoints[1]"]), "\(endpoint)")
    }

    @Test("generate_name must start a DNS-1123 label; an empty name is reported when none was generated from a good one")
    func generateName() {
        var pod = Fixtures.pod("")
        pod.metadata.generateName = "Web-"
        // No name is made from a bad prefix: the prefix is the one problem.
        #expect(paths(defaulted(pod).validate()) == ["metadata.generate_name"])
        pod.metadata.generateName = "web-"
        #expect(paths(defaulted(pod).validate()) == ["metadata.name"])
    }

    @Test(
        "a generate_name is a label's start: up to 63 characters, trailing dashes allowed, as in Kubernetes",
        .timeLimit(.minutes(1)),
        arguments: [
            ("web-", true), ("web", true), ("a--", true), ("a-b-", true), (String(repeating: "x", count: 63), true),
            (String(repeating: "x", count: 62) + "-", true), (String(repeating: "x", count: 64), false),
            ("-", false), ("--", false), ("-web", false), ("Web-", false), ("web.", false), ("w_b-", false),
            // Checked in time linear in its length (a request may carry megabytes).
            ("a" + String(repeating: "-", count: 1_000_000), false),
        ])
    func generateNamePrefixes(prefix: String, valid: Bool) {
        var pod = Fixtures.pod("p")
        pod.metadata.generateName = prefix
        #expect(paths(defaulted(pod).validate()).contains("metadata.generate_name") == !valid, "\(prefix.prefix(80))")
        guard valid else { return }
        // What the server makes of it is a valid name.
        let name = NameGenerator.generate(prefix: prefix, random: 12_345)
        #expect(DNS1123.labelViolation(name) == nil, "\(name)")
    }
}

@Suite("Defaults")
struct DefaultsTests {
    @Test("pods: namespace default, restart policy ALWAYS, protocol TCP, phase PENDING")
    func pod() {
        var pod = Fixtures.pod()
        pod.applyDefaults()
        #expect(pod.metadata.namespace == "default")
        #expect(pod.spec.restartPolicy == .always)
        #expect(pod.spec.containers[0].ports[0].protocol == .tcp)
        #expect(pod.status.phase == .pending)
        var explicit = Fixtures.pod()
        explicit.metadata.namespace = "prod"
        explicit.spec.restartPolicy = .never
        explicit.status.phase = .running
        explicit.applyDefaults()
        #expect(explicit.metadata.namespace == "prod" && explicit.spec.restartPolicy == .never && explicit.status.phase == .running)
    }

    @Test("services: protocol TCP, session affinity NONE, container port = port")
    func service() {
        var service = Service()
        service.spec.port = 80
        service.applyDefaults()
        #expect(service.spec.protocol == .tcp && service.spec.sessionAffinity == .none && service.spec.containerPort == 80)
        #expect(service.metadata.namespace == "default")
        var explicit = Service()
        explicit.spec.port = 80
        explicit.spec.containerPort = 8080
        explicit.spec.protocol = .udp
        explicit.applyDefaults()
        #expect(explicit.spec.containerPort == 8080 && explicit.spec.protocol == .udp)
    }

    @Test("controllers default their template's pod spec; minions keep an empty namespace")
    func others() {
        var controller = ReplicationController()
        controller.spec.template.spec.containers = [Fixtures.container("a", ports: [(80, 0)])]
        controller.applyDefaults()
        #expect(controller.spec.template.spec.restartPolicy == .always)
        #expect(controller.spec.template.spec.containers[0].ports[0].protocol == .tcp)
        var minion = Minion()
        minion.applyDefaults()
        #expect(minion.metadata.namespace == "")
    }
}
