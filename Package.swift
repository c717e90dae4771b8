// swift-tools-version: 6.2
// (6.2: the standard library's MutableSpan, which the in-place collectives take.)
//
// swift-collectives: collective communication (all-reduce and friends) for Swift
// programs on CPU clusters.
//
// Modules, from the bottom up (arrows point one way only):
//   CollectivesSystem      system calls, sockets, deadlines, locks: the only code that talks to the kernel
//   CollectivesTransport   the `Transport` protocol and its implementations (TCP, in-process)
//   CollectivesRendezvous  key-value stores (TCP, file, in-memory) and configuration from the environment
//   Collectives            the public face: `Communicator`, element types, reductions, algorithms
//   DataParallel           a small MLP trainer on OpenBLAS whose ranks all-reduce gradients in buckets
//   mnist-train            the demo: data-parallel training on Fashion-MNIST (or any MNIST-format data)
//   collectives-run        launcher: starts N local ranks and prefixes their output
//   collectives-bench      nccl-tests-style benchmark
//   CollectivesVerification  inputs and sequential reference results, shared by tests and checkers
//   api-tour               Examples/: the public API as an application uses it, checked under the launcher
//   readme-example         Examples/: README.md's program, checked to be the README's text and run under the launcher
//   collectives-check      a small program that checks all-reduce results; used by the multi-process tests
//   CollectivesC           the C interface (include/collectives.h), the shared library SwiftCollectivesC
import PackageDescription

/// Swift 6 language mode everywhere (strict concurrency checking is on by default in it).
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
]

let package = Package(
    name: "swift-collectives",
    // Linux only: the sources call Glibc, /proc and Linux system calls; not built on macOS.
    products: [
        .library(name: "Collectives", targets: ["Collectives"]),
        // The transport layer on its own (for the micro-benchmarks, and for programs that build
        // their own algorithms on it).
        .library(name: "CollectivesTransport", targets: ["CollectivesTransport", "CollectivesSystem"]),
        .executable(name: "collectives-run", targets: ["collectives-run"]),
        .executable(name: "collectives-bench", targets: ["collectives-bench"]),
        .executable(name: "mnist-train", targets: ["mnist-train"]),
        .library(name: "DataParallel", targets: ["DataParallel"]),
        // The C interface (include/collectives.h) as a shared library, libSwiftCollectivesC.so.
        .library(name: "SwiftCollectivesC", type: .dynamic, targets: ["CollectivesC"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        // HMAC-SHA256 for authenticated joins (COLLECTIVES_JOB_SECRET).
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        // Calls, bytes, time and failures per collective, for whatever backend a program
        // bootstraps (nothing is recorded without one).
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        // `swift package generate-documentation --target Collectives`: the DocC catalog (scripts/docs.sh
        // checks the same catalog from the release build's module, without a debug build).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin.git", from: "1.5.0"),
        // Property-based tests of every collective against a sequential reference (tests only).
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
    ],
    targets: [
        .target(
            name: "CollectivesSystem",
            dependencies: ["CCollectivesShim", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        // include/collectives.h, the C interface's header, as a module: the Swift side that
        // implements it (CollectivesC) uses its very enums.
        .target(name: "CCollectivesAPI", path: "include", publicHeadersPath: "."),
        .target(
            name: "CollectivesC",
            dependencies: ["CollectivesRendezvous", "CCollectivesAPI", "Collectives", "CollectivesSystem"],
            swiftSettings: strict
        ),
        // Kernel calls Swift cannot make directly (futexes: syscall(2) is variadic; cross-memory
        // reads, pidfds, affinity); only CollectivesSystem imports it.
        .target(name: "CCollectivesShim"),
        // Atomics on memory shared between processes, static inline so that they compile into
        // the shared-memory transport's loops (no system calls).
        .target(name: "CCollectivesAtomics"),
        // Reduction kernels for the 16-bit floating-point types (half precision with F16C,
        // bfloat16 on any CPU), apart from the kernel calls above.
        .target(name: "CCollectivesKernels"),
        // RDMA verbs through dlopen (libibverbs is never linked), with wrappers for the verbs that
        // are inline functions in <infiniband/verbs.h>.
        .target(name: "CVerbs", linkerSettings: [.linkedLibrary("dl")]),
        .target(
            name: "CollectivesTransport",
            dependencies: [.product(name: "Crypto", package: "swift-crypto"), 
                "CCollectivesAtomics",
                "CVerbs",
                "CollectivesSystem",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "CollectivesRendezvous",
            dependencies: [.product(name: "Crypto", package: "swift-crypto"), 
                "CollectivesSystem",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Finding the ranks and choosing each pair's transport: below the collectives, which see
        // only `any Transport` and `any Store`.
        .target(
            name: "CollectivesBootstrap",
            dependencies: [
                "CollectivesSystem",
                "CollectivesTransport",
                "CollectivesRendezvous",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Collectives",
            dependencies: [
                "CCollectivesKernels",
                "CCollectivesAtomics",
                "CollectivesSystem",
                "CollectivesTransport",
                "CollectivesRendezvous",
                "CollectivesBootstrap",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "CollectivesVerification",
            dependencies: ["Collectives"],
            swiftSettings: strict
        ),
        // OpenBLAS (Debian: libopenblas-dev) for the trainer's matrix products.
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // zlib (Debian: zlib1g-dev) to read gzip-compressed IDX files.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(
            name: "DataParallel",
            dependencies: ["CollectivesSystem", "Collectives", "COpenBLAS", "CZlib"],
            swiftSettings: strict
        ),
        // What the executables share: unbuffered output, number formatting, start-up.
        .target(
            name: "CommandLineSupport",
            dependencies: [
                "Collectives",
                "CollectivesSystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "mnist-train",
            dependencies: [
                "CommandLineSupport",
                "DataParallel",
                "Collectives",
                "CollectivesSystem",
                "COpenBLAS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "collectives-run",
            dependencies: [
                "CommandLineSupport",
                "Collectives",
                "CollectivesSystem",
                "CollectivesRendezvous",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "collectives-bench",
            dependencies: ["CollectivesSystem", 
                "CommandLineSupport",
                "Collectives",
                "CollectivesVerification",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The API as an application uses it (only `import Collectives`); a multi-process test runs
        // it under `collectives-run -n 3`.
        .executableTarget(
            name: "api-tour",
            dependencies: ["Collectives"],
            path: "Examples/api-tour",
            // Sees what a program outside this package sees: no `package` declarations.
            packageAccess: false,
            swiftSettings: strict
        ),
        // The program README.md shows (a test checks that the two are the same text and runs
        // it under `collectives-run -n 2`).
        // A job that hangs on purpose (one rank stops calling), for the flight recorder's test and
        // docs/errors.md.
        .executableTarget(
            name: "hang-demo",
            dependencies: ["Collectives"],
            path: "Examples/hang-demo",
            // Sees what a program outside this package sees: no `package` declarations.
            packageAccess: false,
            swiftSettings: strict
        ),
        .executableTarget(
            name: "readme-example",
            dependencies: ["Collectives"],
            path: "Examples/readme-example",
            // Sees what a program outside this package sees: no `package` declarations.
            packageAccess: false,
            swiftSettings: strict
        ),
        .executableTarget(
            name: "collectives-check",
            dependencies: [
                "CommandLineSupport",
                "Collectives",
                "CollectivesRendezvous",
                "CollectivesSystem",
                "CollectivesVerification",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // Transport groups whose ranks are threads of the test process (TCP, shared memory, routed),
        // for the test targets; in no product.
        .target(
            name: "CollectivesTestSupport",
            dependencies: ["CollectivesTransport", "CollectivesSystem"],
            path: "Tests/CollectivesTestSupport",
            swiftSettings: strict
        ),
        .testTarget(
            name: "CollectivesSystemTests",
            dependencies: ["CollectivesSystem"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "CollectivesTransportTests",
            dependencies: ["CollectivesTransport", "CollectivesSystem", "CollectivesTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "CollectivesRendezvousTests",
            dependencies: ["CollectivesRendezvous", "CollectivesSystem", "CollectivesTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "CollectivesCTests",
            dependencies: ["CollectivesC", "CCollectivesAPI", "Collectives", "CollectivesRendezvous", "CollectivesSystem",
                           "CollectivesTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "CollectivesTests",
            dependencies: ["Collectives", "CollectivesBootstrap", "CollectivesTransport", "CollectivesRendezvous", "CollectivesVerification",
                           "CollectivesSystem", "CollectivesTestSupport",
                           .product(name: "MetricsTestKit", package: "swift-metrics"),
                           .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "DataParallelTests",
            dependencies: ["DataParallel", "Collectives", "CollectivesTransport", "CollectivesRendezvous", "CollectivesSystem", "CZlib",
                           "CollectivesTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MultiProcessTests",
            dependencies: ["CollectivesSystem", "CCollectivesShim", "CollectivesTestSupport"],
            swiftSettings: strict
        ),
    ]
)
