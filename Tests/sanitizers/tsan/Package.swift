// swift-tools-version:6.1
import PackageDescription

// The concurrency, endpoint and health test targets of the main package (the directories here
// are symbolic links to them), built against it by path, for `swift test --sanitize=thread`
// (Tests/sanitizers/tsan.sh). A package of its own so that the ThreadSanitizer build compiles
// only what these tests need: not grpc-swift, swift-nio-ssl/BoringSSL or swift-metrics.
let package = Package(
    name: "marty-metrics-tsan",
    // The TLS trait is off: the TSan build skips BoringSSL (TLSEndpointTests, which need it, stay out).
    dependencies: [.package(name: "marty-metrics", path: "../../..", traits: [])],
    targets: [
        // Tests/MartyTestSupport (linked as Shared) plus MonotonicClock.swift: the tests use
        // MartyMetrics' `package` MonotonicClock, which another package's modules cannot see.
        .target(name: "MartyTestSupport", path: "MartyTestSupport"),
        .testTarget(
            name: "MartyMetricsTests",
            dependencies: [.product(name: "MartyMetrics", package: "marty-metrics"), "MartyTestSupport"],
            path: "MartyMetricsTests",
            // Only the concurrency suites (and the native histogram and multiprocess suites, whose
            // concurrent tests tsan.sh picks): the others are not run under TSan, and
            // LifetimeTests sees MartyMetrics' MonotonicClock through @testable beside this
            // package's.
            sources: [
                "ConcurrencyTests.swift", "ExemplarTests.swift", "NativeHistogramTests.swift",
                "MultiprocessTests.swift",
            ]
        ),
        .testTarget(
            name: "MartyHealthTests",
            dependencies: [
                .product(name: "MartyHealth", package: "marty-metrics"),
                .product(name: "MartyMetrics", package: "marty-metrics"), "MartyTestSupport",
            ],
            path: "MartyHealthTests"
        ),
        .testTarget(
            name: "MartyEndpointTests",
            dependencies: [
                .product(name: "MartyEndpoint", package: "marty-metrics"),
                .product(name: "MartyHealth", package: "marty-metrics"),
                // CZlib (`import CZlib`) comes with MartyEndpoint: the main package's system
                // library target cannot be declared twice in one package graph.
                .product(name: "MartyMetrics", package: "marty-metrics"), "MartyTestSupport",
            ],
            path: "MartyEndpointTests",
            exclude: ["TLSEndpointTests.swift", "Certificates"]
        ),
    ]
)
