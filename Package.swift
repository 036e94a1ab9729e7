// swift-tools-version:6.1
import PackageDescription

// The shared library exports only the C functions (`marty_*`), carries the Swift runtime
// inside it (so hosts need no Swift toolchain) and has a versioned SONAME.
let sharedLibraryLinkerFlags = [
    "-static-stdlib",
    "-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/MartyCABI/exports.map",
    "-Xlinker", "-soname=libmarty_metrics.so.0",
]

let package = Package(
    name: "marty-metrics",
    products: [
        .library(name: "MartyMetrics", targets: ["MartyMetrics"]),
        .library(name: "marty_metrics", type: .dynamic, targets: ["MartyCABI"]),
    ],
    targets: [
        .target(name: "CMartyShims"),
        .target(name: "MartyMetrics", dependencies: ["CMartyShims"]),
        .target(
            name: "MartyCABI",
            dependencies: ["MartyMetrics", "CMartyShims"],
            exclude: ["exports.map"],
            linkerSettings: [.unsafeFlags(sharedLibraryLinkerFlags)]
        ),
        .testTarget(name: "MartyMetricsTests", dependencies: ["MartyMetrics"]),
    ]
)
