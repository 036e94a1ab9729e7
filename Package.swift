// swift-tools-version:6.1
import PackageDescription

// The shared library exports only the C functions (`marty_*`), carries the Swift runtime
// inside it (so hosts need no Swift toolchain) and has a versioned SONAME.
let sharedLibraryLinkerFlags = [
    "-static-stdlib",
    "-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/MartyCABI/exports.map",
    "-Xlinker", "-soname=libmarty_metrics.so.0",
    // Identical code folded once, only where no address is taken (gold's safe mode).
    "-Xlinker", "--icf=safe",
]

let package = Package(
    name: "marty-metrics",
    products: [
        .library(name: "MartyEndpoint", targets: ["MartyEndpoint"]),
        .library(name: "MartySwiftMetrics", targets: ["MartySwiftMetrics"]),
        .library(name: "MartyGRPC", targets: ["MartyGRPC"]),
        .library(name: "MartyMetrics", targets: ["MartyMetrics"]),
        .library(name: "MartyHealth", targets: ["MartyHealth"]),
        .library(name: "MartyProcess", targets: ["MartyProcess"]),
        .library(name: "MartyCatalog", targets: ["MartyCatalog"]),
        .library(name: "MartyService", targets: ["MartyService"]),
        .library(name: "MartyMetricsTestKit", targets: ["MartyMetricsTestKit"]),
        .library(name: "marty_metrics", type: .dynamic, targets: ["MartyCABI"]),
        .executable(name: "marty-demo", targets: ["marty-demo"]),
        .executable(name: "marty-swift-example", targets: ["marty-swift-example"]),
    ],
    // TLS on the endpoint (swift-nio-ssl, BoringSSL inside the library) is on by default. The
    // sanitizer and fuzz packages (Tests/sanitizers/tsan, Tests/fuzz) turn it off, so that their
    // instrumented builds do not compile BoringSSL; without it a web config asking for TLS is
    // refused at start, and everything else (basic auth, headers) works the same.
    traits: [
        .trait(name: "TLS", description: "TLS and client certificates on the endpoint, through swift-nio-ssl"),
        .default(enabledTraits: ["TLS"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", "2.101.2"..<"2.102.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", exact: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics.git", exact: "2.13.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", exact: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", exact: "2.9.2"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", exact: "1.7.3"),
    ],
    targets: [
        .target(name: "CMartyShims"),
        .target(name: "CMartyRecording", dependencies: ["CMartyShims"]),
        // bcrypt for basic auth, through libxcrypt's crypt_r (Debian's libcrypt1).
        .target(name: "CMartyCrypt", linkerSettings: [.linkedLibrary("crypt")]),
        .target(name: "MartyMetrics", dependencies: ["CMartyShims"]),
        .target(name: "MartyHealth", dependencies: ["MartyMetrics"]),
        .target(name: "MartyProcess", dependencies: ["MartyMetrics"]),
        // For users' tests, as swift-metrics' MetricsTestKit: a registry's samples without text.
        .target(name: "MartyMetricsTestKit", dependencies: ["MartyMetrics"]),
        .target(name: "MartyCatalog", dependencies: ["MartyMetrics", "MartyProcess"]),
        // A Marty service's endpoint: the catalog's port table and health gauge on an endpoint
        // that knows neither.
        .target(
            name: "MartyService", dependencies: ["MartyCatalog", "MartyEndpoint", "MartyHealth", "MartyMetrics"]),
        .systemLibrary(name: "CZlib"),
        .target(
            name: "MartySwiftMetrics",
            dependencies: [
                "MartyCatalog", "MartyMetrics", .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "MartyEndpoint",
            dependencies: [
                "MartyMetrics", "MartyHealth", "CZlib", "CMartyShims", "CMartyCrypt",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl", condition: .when(traits: ["TLS"])),
            ]
        ),
        .target(
            name: "MartyCABI",
            dependencies: [
                "MartyMetrics", "MartyHealth", "MartyCatalog", "MartyEndpoint", "MartyService", "CMartyShims",
                "CMartyRecording",
            ],
            exclude: ["exports.map"],
            linkerSettings: [.unsafeFlags(sharedLibraryLinkerFlags)]
        ),
        .executableTarget(
            name: "marty-demo",
            dependencies: ["MartyCatalog", "MartyEndpoint", "MartyHealth", "MartyMetrics", "MartyService"],
            path: "examples/demo"),
        .executableTarget(
            name: "marty-swift-example",
            dependencies: [
                "MartyCatalog", "MartyEndpoint", "MartyGRPC", "MartyHealth", "MartyMetrics", "MartyService",
                "MartySwiftMetrics",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
            ],
            path: "examples/swift",
            exclude: ["run.sh"]
        ),
        .target(name: "MartyTestSupport", path: "Tests/MartyTestSupport"),
        .testTarget(name: "MartyMetricsTests", dependencies: ["MartyMetrics", "MartyTestSupport"]),
        .testTarget(name: "MartyMetricsTestKitTests", dependencies: ["MartyMetricsTestKit", "MartyMetrics"]),
        .testTarget(name: "MartyHealthTests", dependencies: ["MartyHealth", "MartyMetrics", "MartyTestSupport"]),
        .testTarget(
            name: "MartyCatalogTests",
            dependencies: [
                "MartyCatalog", "MartyEndpoint", "MartyMetrics", "MartyProcess", "MartyService", "MartyTestSupport",
            ]),
        .target(
            name: "MartyGRPC",
            dependencies: [
                "MartyCatalog", "MartyMetrics", .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
            ]
        ),
        .testTarget(
            name: "MartyGRPCTests",
            dependencies: [
                "MartyCatalog", "MartyGRPC", "MartyMetrics", .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
            ]
        ),
        .testTarget(
            name: "MartySwiftMetricsTests",
            dependencies: [
                "MartySwiftMetrics", "MartyMetrics", .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "MartyEndpointTests",
            dependencies: [
                "MartyEndpoint", "MartyHealth", "MartyMetrics", "CZlib", "CMartyCrypt", "MartyTestSupport",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            exclude: ["Certificates"]),
    ]
)
