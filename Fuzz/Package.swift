// swift-tools-version:6.0
// libFuzzer targets for Capstan's decoders and text readers, in their own package so the sanitizer flags they need
// never touch the main build. Run through `make fuzz` (bounded in time).
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "CapstanFuzz",
    dependencies: [.package(name: "Capstan", path: "..")],
    targets: [
        .executableTarget(
            name: "FuzzWireDecode",
            dependencies: [
                .product(name: "CapstanWire", package: "Capstan"),
                .product(name: "CapstanAPI", package: "Capstan"),
                .product(name: "CapstanInterop", package: "Capstan"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "FuzzTextInputs",
            dependencies: [
                .product(name: "CapstanAPI", package: "Capstan"),
                .product(name: "CapstanAPIServer", package: "Capstan"),
                .product(name: "CapctlKit", package: "Capstan"),
                .product(name: "CapstanHTTP2", package: "Capstan"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "FuzzAPIServer",
            dependencies: [
                .product(name: "CapstanAPI", package: "Capstan"),
                .product(name: "CapstanAPIServerHost", package: "Capstan"),
                .product(name: "CapstanHTTP2", package: "Capstan"),
                .product(name: "CapstanRPC", package: "Capstan"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "FuzzGRPCFraming",
            dependencies: [.product(name: "CapstanHTTP2", package: "Capstan")],
            swiftSettings: swiftSettings),
    ]
)
