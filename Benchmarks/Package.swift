// swift-tools-version: 6.1
//
// Micro-benchmarks of swift-collectives with ordo-one's Package-Benchmark, in a package of their
// own so that building the library and its tests does not build the benchmark tooling.
//
//   cd Benchmarks && swift package benchmark
import Foundation
import PackageDescription

/// The library's package is the parent directory; SwiftPM names a path dependency after its
/// directory, whatever the clone is called.
let library = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "swift-collectives-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "Reductions",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Collectives", package: library),
            ],
            path: "Benchmarks/Reductions",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "Transport",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "CollectivesTransport", package: library),
            ],
            path: "Benchmarks/Transport",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
