// swift-tools-version:6.1
import PackageDescription

// The benchmark harness: marty-metrics against swift-prometheus, in one run, one table.
// swift-prometheus is a dependency of this package only, never of marty-metrics itself.
let package = Package(
    name: "marty-benchmarks",
    dependencies: [
        // Named, so that `package: "marty-metrics"` below holds whatever the checkout's folder
        // is called (a path dependency's identity is otherwise its folder name).
        .package(name: "marty-metrics", path: ".."),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        // The swift-metrics API itself (CoreMetrics.Counter, Timer), for the swift-metrics rows:
        // the same version marty-metrics' MartySwiftMetrics is built against.
        .package(url: "https://github.com/apple/swift-metrics.git", exact: "2.13.0"),
    ],
    targets: [
        // C loops that call the C ABI of a dlopen'ed libmarty_metrics.so through the
        // function pointers dlsym gives, as a C host's calls through the PLT would.
        .target(
            name: "CMartyBench",
            cSettings: [.unsafeFlags(["-O2"])],
            linkerSettings: [.linkedLibrary("dl")]
        ),
        .executableTarget(
            name: "marty-bench",
            dependencies: [
                "CMartyBench",
                .product(name: "MartyMetrics", package: "marty-metrics"),
                .product(name: "MartySwiftMetrics", package: "marty-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
        ),
        // The HTTP rows' marty-metrics server: MetricsEndpoint serving the same series as the
        // peers in Benchmarks/http, and the endpoint's idle cost in this host process.
        .executableTarget(
            name: "marty-http-serve",
            dependencies: [
                .product(name: "MartyEndpoint", package: "marty-metrics"),
                .product(name: "MartyMetrics", package: "marty-metrics"),
            ],
        ),
    ],
    swiftLanguageModes: [.v5]
)
