import SwiftProtobuf
import SwiftProtobufPod

extension Capstan_V1_Pod {
    /// The typical Pod as swift-protobuf's generated message, field for field as `Pod.init(_:)`.
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
            var container = Capstan_V1_Container()
            container.name = c.name
            container.image = c.image
            container.command = c.command
            container.args = c.args
            container.ports = c.ports.map { p in
                var port = Capstan_V1_ContainerPort()
                port.name = p.name
                port.containerPort = p.containerPort
                port.hostPort = p.hostPort
                port.protocol = p.udp ? .udp : .tcp
                return port
            }
            container.env = c.env.map { e in
                var env = Capstan_V1_EnvVar()
                env.name = e.name
                env.value = e.value
                return env
            }
            container.resources.cpuMillis = c.cpuMillis
            container.resources.memoryBytes = c.memoryBytes
            var get = Capstan_V1_HTTPGetAction()
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
            var s = Capstan_V1_ContainerStatus()
            s.name = c.name
            var running = Capstan_V1_ContainerStateRunning()
            running.startedAt.seconds = t.startSeconds + 1
            running.startedAt.nanos = t.startNanos
            s.state = .running(running)
            s.ready = true
            s.containerID = c.containerID
            return s
        }
        status.startTime.seconds = t.startSeconds
        status.startTime.nanos = t.startNanos
    }
}
