// swift-tools-version:6.1
import PackageDescription

// libFuzzer targets for marty-metrics, in a package of their own so that the main build stays
// fast. It depends on the main package by path and is only ever built instrumented:
//
//   swift build -c release --package-path Tests/fuzz --scratch-path build-asan/swiftpm \
//     --sanitize=address --sanitize=fuzzer -Xswiftc -enable-testing --product fuzz-negotiation
//
// The same scratch path and flags also build the main package's `marty_metrics` library for
// the sanitizer CTest run and the C fuzzer (CMakeLists.txt, MARTY_SANITIZE), so the instrumented
// core and SwiftNIO are compiled once. `Tests/fuzz/run.sh` builds and runs everything.
let package = Package(
    name: "marty-metrics-fuzz",
    products: [
        .executable(name: "fuzz-negotiation", targets: ["FuzzNegotiation"]),
        .executable(name: "fuzz-http", targets: ["FuzzHTTP"]),
        .executable(name: "fuzz-web-config", targets: ["FuzzWebConfig"]),
    ],
    // The TLS trait is off: the instrumented build skips BoringSSL (web configs without TLS are fuzzed).
    dependencies: [.package(name: "marty-metrics", path: "../..", traits: [])],
    targets: [
        .executableTarget(
            name: "FuzzNegotiation",
            dependencies: [
                .product(name: "MartyEndpoint", package: "marty-metrics"),
                .product(name: "MartyMetrics", package: "marty-metrics"),
            ]
        ),
        .executableTarget(
            name: "FuzzWebConfig",
            dependencies: [
                .product(name: "MartyEndpoint", package: "marty-metrics"),
                .product(name: "MartyMetrics", package: "marty-metrics"),
            ]
        ),
        .executableTarget(
            name: "FuzzHTTP",
            dependencies: [
                .product(name: "MartyEndpoint", package: "marty-metrics"),
                .product(name: "MartyMetrics", package: "marty-metrics"),
            ]
        ),
    ]
)
