import CapstanAPI

extension Pod {
    /// The typical Pod as Capstan's value type (encoded through protobuf-c by CapstanWire).
    init(_ t: TypicalPod) {
        self.init()
        metadata.name = t.name
        metadata.namespace = t.namespace
        metadata.uid = t.uid
        metadata.resourceVersion = t.resourceVersion
        metadata.creationTimestamp.seconds = t.creationSeconds
        metadata.labels = t.labels
        metadata.annotations = t.annotations

        spec.containers = t.containers.map { c in
            var container = Container()
            container.name = c.name
            container.image = c.image
            container.command = c.command
            container.args = c.args
            container.ports = c.ports.map { p in
                var port = ContainerPort()
                port.name = p.name
                port.containerPort = p.containerPort
                port.hostPort = p.hostPort
                port.protocol = p.udp ? .udp : .tcp
                return port
            }
            container.env = c.env.map { e in
                var env = EnvVar()
                env.name = e.name
                env.value = e.value
                return env
            }
            container.resources.cpuMillis = c.cpuMillis
            container.resources.memoryBytes = c.memoryBytes
            var get = HTTPGetAction()
            get.path = c.probePath
            get.port = c.probePort
            container.livenessProbe.handler = .httpGet(get)
            container.livenessProbe.initialDelaySeconds = 5
            container.livenessProbe.periodSeconds = 10
            container.livenessProbe.failureThreshold = 3
            return container
        }
        spec.restartPolicy = .always
        spec.nodeSelector = t.nodeSelector
        spec.host = t.host

        status.phase = .running
        status.hostIp = t.hostIP
        status.podIp = t.podIP
        status.containerStatuses = t.containers.map { c in
            var s = ContainerStatus()
            s.name = c.name
            var running = ContainerStateRunning()
            running.startedAt.seconds = t.startSeconds + 1
            running.startedAt.nanos = t.startNanos
            s.state = .running(running)
            s.ready = true
            s.containerId = c.containerID
            return s
        }
        status.startTime.seconds = t.startSeconds
        status.startTime.nanos = t.startNanos
    }
}
