/// The content of the benchmark's "typical Pod", as plain values, so that the Capstan and the
/// swift-protobuf representations are built from one description (`Pod+Typical.swift`,
/// `Capstan_V1_Pod+Typical.swift`). About 1 KiB encoded.
struct TypicalPod {
    struct Port {
        var name: String
        var containerPort: Int32
        var hostPort: Int32
        var udp: Bool
    }

    struct Container {
        var name: String
        var image: String
        var command: [String]
        var args: [String]
        var ports: [Port]
        var env: [(name: String, value: String)]
        var cpuMillis: Int64
        var memoryBytes: Int64
        var probePath: String
        var probePort: Int32
    }

    var name = "web-7f9c4b6d8-x2k4q"
    var namespace = "default"
    var uid = "3f1e9a2c-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
    var resourceVersion: UInt64 = 184_467
    var creationSeconds: Int64 = 1_767_225_600
    var labels: [String: String] = [
        "app": "web", "tier": "frontend", "env": "prod", "team": "payments", "version": "v2.14.3",
        "release": "stable", "region": "eu-west", "zone": "eu-west-1b", "track": "canary",
        "pod-template-hash": "7f9c4b6d8",
    ]
    var annotations: [String: String] = [
        "capstan.io/created-by": "rc/web",
        "prometheus.io/scrape": "true",
    ]
    var containers: [Container] = [
        Container(
            name: "web", image: "web:2.14.3", command: ["/bin/web"],
            args: ["--listen=:8080", "--log-level=info"],
            ports: [
                Port(name: "http", containerPort: 8080, hostPort: 0, udp: false),
                Port(name: "metrics", containerPort: 9090, hostPort: 0, udp: false),
            ],
            env: [("GOMAXPROCS", "2"), ("DB_HOST", "db.default"), ("DB_PORT", "5432"), ("LOG_FORMAT", "json")],
            cpuMillis: 500, memoryBytes: 268_435_456, probePath: "/healthz", probePort: 8080),
        Container(
            name: "sidecar", image: "envoy:1.29", command: ["envoy"],
            args: ["-c", "/etc/envoy.yaml"],
            ports: [
                Port(name: "proxy", containerPort: 15001, hostPort: 0, udp: false),
                Port(name: "admin", containerPort: 15000, hostPort: 0, udp: false),
            ],
            env: [("POD_NAME", "web"), ("POD_NS", "default"), ("CLUSTER", "prod"), ("LOG_LEVEL", "warn")],
            cpuMillis: 100, memoryBytes: 67_108_864, probePath: "/ready", probePort: 15000),
        Container(
            name: "logs", image: "fluent-bit:3.0", command: ["fluent-bit"],
            args: ["-c", "/fluent.conf", "-q"],
            ports: [
                Port(name: "forward", containerPort: 24224, hostPort: 0, udp: false),
                Port(name: "syslog", containerPort: 5140, hostPort: 5140, udp: true),
            ],
            env: [("FLUSH", "5"), ("OUTPUT", "loki"), ("BUFFER", "8M"), ("TZ", "UTC")],
            cpuMillis: 50, memoryBytes: 33_554_432, probePath: "/api/v1/health", probePort: 2020),
    ]
    var nodeSelector: [String: String] = ["disk": "ssd"]
    var host = "minion-3"
    var hostIP = "10.0.0.13"
    var podIP = "10.244.3.17"
    var startSeconds: Int64 = 1_767_225_612
    var startNanos: Int32 = 250_000_000
}

extension TypicalPod.Container {
    /// The runtime's id for the container, as its status reports it.
    var containerID: String { "cri://\(name)-8e1f2a3b" }
}
