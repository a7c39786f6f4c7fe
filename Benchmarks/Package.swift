// swift-tools-version:6.0
import PackageDescription

/// Every Swift target: Swift 6 mode (the tools version's default) plus these upcoming features,
/// as in the main package.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// Benchmarks kept out of the main package so that its dependency graph stays free of
/// swift-protobuf; built with its own `.build` inside this directory.
let package = Package(
    name: "CapstanBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "Capstan", path: ".."),
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
    ],
    targets: [
        // protoc-gen-swift's output for capstan/v1/{meta,pod}.proto (see README.md).
        .target(
            name: "SwiftProtobufPod",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: swiftSettings),
        // Encode/decode throughput of a typical Pod: CapstanWire (protobuf-c) against swift-protobuf.
        .executableTarget(
            name: "bench-wire",
            dependencies: [
                .product(name: "CapstanWire", package: "Capstan"),
                .product(name: "CapstanAPI", package: "Capstan"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                "SwiftProtobufPod",
            ],
            swiftSettings: swiftSettings),
    ]
)
