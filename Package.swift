// swift-tools-version:6.0
import PackageDescription

/// Every Swift target: Swift 6 mode (the tools version's default) plus these upcoming features.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Capstan",
    products: [
        .executable(name: "capstan", targets: ["capstan"]),
        .executable(name: "capctl", targets: ["capctl"]),
        .executable(name: "protoc-gen-capstan", targets: ["protoc-gen-capstan"]),
        .library(name: "CapstanAPI", targets: ["CapstanAPI"]),
        .library(name: "CapstanWire", targets: ["CapstanWire"]),
        .library(name: "CapstanRPC", targets: ["CapstanRPC"]),
        .library(name: "CapstanHTTP2", targets: ["CapstanHTTP2"]),
        .library(name: "CapstanStore", targets: ["CapstanStore"]),
        .library(name: "CapstanAPIServer", targets: ["CapstanAPIServer"]),
        .library(name: "CapstanAPIServerHost", targets: ["CapstanAPIServerHost"]),
        .library(name: "CapstanClient", targets: ["CapstanClient"]),
        // For the fuzz targets (Fuzz/), which read manifests the way capctl does.
        .library(name: "CapctlKit", targets: ["CapctlKit"]),
        // For the fuzz targets (Fuzz/): the gRPC interop test messages' decoders.
        .library(name: "CapstanInterop", targets: ["CapstanInterop"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // 1.12: `LogHandler.log(event:)` with `LogEvent.error`.
        .package(url: "https://github.com/apple/swift-log", from: "1.12.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // C libraries from Debian, found through pkg-config.
        .systemLibrary(
            name: "CProtobufC", pkgConfig: "libprotobuf-c", providers: [.apt(["libprotobuf-c-dev"])]),
        .systemLibrary(
            name: "CNghttp2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),
        // Linux interfaces Glibc does not import (epoll, eventfd), for CapstanHTTP2's event loop.
        .systemLibrary(name: "CLinux"),
        .systemLibrary(
            name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // The daemons' allocator (see CapstanAllocator); executables only, never tests or fuzzers.
        .systemLibrary(
            name: "CJemalloc", pkgConfig: "jemalloc", providers: [.apt(["libjemalloc-dev"])]),
        .target(name: "CapstanAllocator", dependencies: ["CJemalloc"], swiftSettings: swiftSettings),

        // A fault-injecting SQLite VFS, for the store's tests only.
        .target(name: "CSQLiteFaultVFS", dependencies: ["CSQLite"]),
        // SQLite's default page cache, wrapped so B-tree balancing does not make commits walk it.
        .target(name: "CSQLitePageCache", dependencies: ["CSQLite"]),

        // protoc-c's output for every schema in proto/, plus a small arena allocator.
        .target(
            name: "CCapstanProto",
            dependencies: ["CProtobufC"],
            cSettings: [.unsafeFlags(["-Wno-incompatible-pointer-types-discards-qualifiers"])],
            linkerSettings: [.linkedLibrary("protobuf-c")]),

        // Generated value types and the pure API logic; no C.
        .target(name: "CapstanAPI", swiftSettings: swiftSettings),
        // Generated conversions API type ⇄ protobuf-c struct ⇄ bytes.
        .target(
            name: "CapstanWire", dependencies: ["CapstanAPI", "CCapstanProto"], swiftSettings: swiftSettings),

        // Transport-agnostic gRPC, plus generated service descriptors, handlers and clients.
        // Also the server's observability: request logs (swift-log) and per-method metrics.
        .target(
            name: "CapstanRPC",
            dependencies: ["CapstanWire", "CapstanAPI", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings),

        // gRPC over HTTP/2 on nghttp2: event loops, sockets, server and client transports.
        .target(
            name: "CapstanHTTP2", dependencies: ["CapstanRPC", "CapstanWire", "CapstanAPI", "CNghttp2", "CLinux"],
            swiftSettings: swiftSettings),
        // gRPC's interop test service and client cases.
        .target(
            name: "CapstanInterop", dependencies: ["CapstanRPC", "CapstanWire", "CapstanAPI", "CCapstanProto"],
            swiftSettings: swiftSettings),

        // Storage: the `Store` interface, its embedded SQLite backend (log table, group commit, watch)
        // and its etcd v3 backend (through the RPC client over HTTP/2).
        .target(
            name: "CapstanStore",
            dependencies: [
                "CSQLite", "CSQLitePageCache", "CLinux", "CapstanAPI", "CapstanWire", "CapstanRPC", "CapstanHTTP2",
            ],
            swiftSettings: swiftSettings),
        // The API server core: registries, strategies, watch cache, services.
        .target(
            name: "CapstanAPIServer", dependencies: ["CapstanStore", "CapstanRPC", "CapstanWire", "CapstanAPI"],
            swiftSettings: swiftSettings),
        // An API server on an HTTP/2 listener over a store: `capstan apiserver`, tests and benchmarks.
        .target(
            name: "CapstanAPIServerHost",
            dependencies: [
                "CapstanAPIServer", "CapstanStore", "CapstanHTTP2", "CapstanRPC", "CapstanWire", "CapstanAPI",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        // The client library: typed clients with deadlines, retries and failover; informers.
        .target(
            name: "CapstanClient", dependencies: ["CapstanRPC", "CapstanAPI", "CapstanWire", "CapstanHTTP2"],
            swiftSettings: swiftSettings),
        // Real etcd members on loopback ports in temporary directories, for tests and benchmarks.
        .target(name: "CapstanEtcdLauncher", dependencies: ["CapstanProcessSupport"], swiftSettings: swiftSettings),
        // Helpers shared by the test targets: bounded waits, temporary directories, ports.
        .target(
            name: "CapstanTestSupport",
            dependencies: ["CapstanProcessSupport", "CSQLite", "CSQLiteFaultVFS", "CSQLitePageCache"],
            swiftSettings: swiftSettings),
        // Starts child processes from one long-lived thread (tests, the etcd launcher).
        .target(name: "CapstanProcessSupport", swiftSettings: swiftSettings),
        // The durability test's workload and record format, shared by `store-torture` and the tests.
        .target(name: "CapstanStoreTorture", dependencies: ["CapstanStore"], swiftSettings: swiftSettings),
        .executableTarget(
            name: "store-torture", dependencies: ["CapstanStoreTorture", "CapstanStore"],
            swiftSettings: swiftSettings),
        // A gRPC echo server over CapstanHTTP2 for load checks by hand (h2load); wiring only.
        .executableTarget(
            name: "capstan-h2-echo",
            dependencies: [
                "CapstanHTTP2", "CapstanRPC", "CapstanWire", "CapstanAPI", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),

        // The daemons: `capstan apiserver`, `capstan up` (wiring only).
        .executableTarget(
            name: "capstan",
            dependencies: [
                "CapstanAllocator", "CapstanAPIServerHost", "CapstanAPIServer", "CapstanStore", "CapstanHTTP2",
                "CapstanRPC", "CapstanWire", "CapstanAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),

        // The admin CLI's commands, kinds, manifests, printers and config file.
        .target(
            name: "CapctlKit",
            dependencies: [
                "CapstanClient", "CapstanAPI", "CapstanRPC", "CapstanWire", "CapstanHTTP2",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings),
        // `capctl`, the admin CLI (wiring only).
        .executableTarget(name: "capctl", dependencies: ["CapctlKit"], swiftSettings: swiftSettings),

        // gRPC's interop server and client over HTTP/2 (wiring only).
        .executableTarget(
            name: "capstan-interop",
            dependencies: ["CapstanInterop", "CapstanHTTP2", "CapstanRPC", "CapstanWire"],
            swiftSettings: swiftSettings),
        // What the benchmarks share: load loops, child processes (servers, h2load), /proc readings.
        .target(name: "CapstanBenchSupport", dependencies: ["CapstanProcessSupport"], swiftSettings: swiftSettings),
        // Throughput of the SQLite and etcd stores: durable creates, updates, gets, watch deliveries.
        .executableTarget(
            name: "bench-store",
            dependencies: [
                "CapstanBenchSupport", "CapstanStore", "CapstanEtcdLauncher", "CapstanRPC", "CapstanHTTP2", "CapstanAPI",
            ],
            swiftSettings: swiftSettings),
        // The API server (`capstan apiserver`, a child process) against etcd and nghttpd: Get under
        // h2load, durable creates, List, watch fan-out, RSS with 150,000 pods.
        .executableTarget(
            name: "bench-api",
            dependencies: [
                "CapstanAllocator", "CapstanBenchSupport", "CapstanEtcdLauncher", "CapstanRPC", "CapstanHTTP2",
                "CapstanWire", "CapstanAPI", "CapstanClient",
            ],
            swiftSettings: swiftSettings),

        // The code generator (a protoc plugin) and its library.
        .target(name: "CapstanCodegen", path: "codegen/Sources/CapstanCodegen", swiftSettings: swiftSettings),
        .executableTarget(
            name: "protoc-gen-capstan", dependencies: ["CapstanCodegen"],
            path: "codegen/Sources/protoc-gen-capstan", swiftSettings: swiftSettings),

        .testTarget(
            name: "CapstanCodegenTests", dependencies: ["CapstanCodegen", "CapstanProcessSupport"],
            path: "codegen/Tests/CapstanCodegenTests",
            exclude: ["Golden"], swiftSettings: swiftSettings),
        .testTarget(
            name: "CSystemLibrariesTests", dependencies: ["CNghttp2", "CSQLite", "CProtobufC"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "CapstanRPCTests", dependencies: ["CapstanRPC", "CapstanWire", "CapstanAPI", "CapstanTestSupport"],
            swiftSettings: swiftSettings),
        // Request logs and metrics: in process, through a real API server (the Metrics RPC over
        // HTTP/2), the GET /metrics endpoint over real sockets, and the `capstan` executable.
        .testTarget(
            name: "CapstanObservabilityTests",
            dependencies: [
                "CapstanAPIServerHost", "CapstanHTTP2", "CapstanRPC", "CapstanWire", "CapstanAPI", "CapstanProcessSupport", "CapstanTestSupport", "CapstanEtcdLauncher",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "CapstanHTTP2Tests",
            dependencies: [
                "CapstanHTTP2", "CapstanRPC", "CapstanWire", "CapstanAPI", "CNghttp2", "CapstanTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "CapstanTransportConformanceTests",
            dependencies: ["CapstanHTTP2", "CapstanRPC", "CapstanWire", "CapstanAPI"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "CapstanInteropTests",
            dependencies: ["CapstanInterop", "CapstanRPC", "CapstanWire", "CapstanAPI", "CapstanProcessSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "CapstanStoreTests",
            dependencies: [
                "CapstanStore", "CapstanStoreTorture", "CSQLite", "CSQLiteFaultVFS", "CapstanEtcdLauncher", "CapstanRPC",
                "CapstanHTTP2",
                "CapstanAPI", "CapstanProcessSupport", "CapstanTestSupport",
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "CapstanAPIServerTests",
            dependencies: [
                "CapstanAPIServer", "CapstanAPIServerHost", "CapstanStore", "CapstanRPC", "CapstanWire", "CapstanAPI",
                "CapstanHTTP2", "CapstanEtcdLauncher", "CapstanProcessSupport", "CapstanTestSupport",
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "CapstanClientTests",
            dependencies: [
                "CapstanClient", "CapstanTestSupport", "CapstanAPIServerHost", "CapstanAPIServer", "CapstanHTTP2", "CapstanRPC", "CapstanAPI",
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "CapctlTests",
            dependencies: [
                "CapctlKit", "CapstanTestSupport", "CapstanAPIServerHost", "CapstanAPIServer", "CapstanAPI", "CapstanRPC", "CapstanWire",
                "CapstanHTTP2", "CapstanProcessSupport",
            ],
            exclude: ["Golden", "Manifests"], swiftSettings: swiftSettings),
        .testTarget(name: "CapstanAPITests", dependencies: ["CapstanAPI"], swiftSettings: swiftSettings),
        .testTarget(
            name: "CapstanProcessSupportTests", dependencies: ["CapstanProcessSupport", "CapstanTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "CapstanWireTests", dependencies: ["CapstanWire", "CapstanAPI", "CapstanProcessSupport"], swiftSettings: swiftSettings),
    ]
)
