// What bench-api sends: a typical pod of about 1 KiB as stored, 1 KiB etcd values, gRPC framing,
// and a scan of the top-level fields of protobuf bytes without decoding the message.
import CapstanAPI
import CapstanWire

/// The encoded size a benchmark pod is padded to before the server adds uid, creation time and
/// defaults (about 60 bytes), so that the stored pod is about 1 KiB.
let podPaddingTarget = 960

/// A typical pod: two containers with ports, env, resources and mounts, labels and annotations,
/// padded with an annotation to `podPaddingTarget` bytes encoded (names of the same length give
/// pods of the same size).
func benchPod(name: String, namespace: String) -> Pod {
    var pod = Pod()
    pod.metadata.name = name
    pod.metadata.namespace = namespace
    pod.metadata.labels = [
        "app": "frontend", "tier": "web", "track": "stable", "release": "2026-11",
        "team": "payments", "environment": "production",
    ]
    pod.metadata.annotations = ["capstan.io/created-by": "bench-api", "capstan.io/revision": "42"]
    var web = Container()
    web.name = "web"
    web.image = "registry.example.com/payments/frontend:v1.42.7"
    web.command = ["/usr/local/bin/frontend"]
    web.args = ["--listen=:8080", "--metrics=:9090", "--log-level=info"]
    web.workingDir = "/srv"
    web.ports = [port("http", 8080), port("metrics", 9090)]
    web.env = [env("GOMAXPROCS", "2"), env("UPSTREAM", "payments-api.default:7000"), env("REGION", "eu-west-1")]
    var resources = ResourceRequirements()
    resources.cpuMillis = 500
    resources.memoryBytes = 256 << 20
    web.resources = resources
    var mount = VolumeMount()
    mount.name = "cache"
    mount.mountPath = "/var/cache/frontend"
    web.volumeMounts = [mount]
    var sidecar = Container()
    sidecar.name = "log-shipper"
    sidecar.image = "registry.example.com/infra/log-shipper:v3.1.0"
    sidecar.args = ["--source=/var/log/app", "--sink=collector.logging:24224"]
    sidecar.resources = resources
    pod.spec.containers = [web, sidecar]
    var volume = Volume()
    volume.name = "cache"
    volume.emptyDir = EmptyDirVolume()
    pod.spec.volumes = [volume]
    pod.spec.restartPolicy = .always
    pod.spec.nodeSelector = ["disk": "ssd"]
    let size = pod.serializedBytes().count
    // The annotation entry costs its value plus about 20 bytes of key and framing.
    let padding = max(0, podPaddingTarget - size - 20)
    pod.metadata.annotations["capstan.io/padding"] = String(repeating: "p", count: padding)
    return pod
}

private func port(_ name: String, _ number: Int32) -> ContainerPort {
    var port = ContainerPort()
    port.name = name
    port.containerPort = number
    port.protocol = .tcp
    return port
}

private func env(_ name: String, _ value: String) -> EnvVar {
    var variable = EnvVar()
    variable.name = name
    variable.value = value
    return variable
}

/// A 1 KiB etcd value.
let etcdValue = [UInt8](repeating: 0x5a, count: 1024)

/// `message` with gRPC's length-prefixed framing (uncompressed).
func grpcFramed(_ message: [UInt8]) -> [UInt8] {
    let length = UInt32(message.count)
    return [0, UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)] + message
}

/// One top-level field of protobuf bytes: its number and, for a varint, its value, for a
/// length-delimited field, where its bytes are.
struct ProtoField {
    var number: Int
    var varint: UInt64 = 0
    var bytes: Range<Int> = 0..<0
}

/// The top-level fields of protobuf `bytes`, without decoding them; nil when malformed. Used
/// to count watch events and list items, and to find continue tokens, as cheaply as a client
/// that does not decode can.
func protoFields(_ bytes: ArraySlice<UInt8>) -> [ProtoField]? {
    var index = bytes.startIndex
    var fields: [ProtoField] = []
    func varint() -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.endIndex, shift < 64 {
            let byte = bytes[index]
            index += 1
            value |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        return nil
    }
    while index < bytes.endIndex {
        guard let key = varint() else { return nil }
        var field = ProtoField(number: Int(key >> 3))
        switch key & 7 {
        case 0:
            guard let value = varint() else { return nil }
            field.varint = value
        case 1: index += 8
        case 2:
            guard let length = varint(), length <= UInt64(bytes.endIndex - index) else { return nil }
            field.bytes = index..<(index + Int(length))
            index += Int(length)
        case 5: index += 4
        default: return nil
        }
        fields.append(field)
    }
    return index == bytes.endIndex ? fields : nil
}
