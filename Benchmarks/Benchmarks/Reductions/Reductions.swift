import Benchmark
import Collectives

#if canImport(Glibc)
import Glibc
#endif

/// The reduction kernels, per type and operation, on 4 MiB buffers, beside a plain copy of the
/// same bytes: `GB/s` counts the bytes of the destination buffer per second (the kernel reads
/// it, reads as many from the source, and writes it back; the copy reads and writes as many).
let benchmarks: @Sendable () -> Void = {
    let bytes = 4 << 20
    let rate = BenchmarkMetric.custom("GB/s ×100", polarity: .prefersLarger, useScalingFactor: false)
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, rate],
        timeUnits: .microseconds,
        maxDuration: .seconds(1),
        maxIterations: 200)

    /// Times `body` itself, so that the rate excludes the harness.
    func record(_ benchmark: Benchmark, _ body: () -> Void) {
        var start = timespec(), end = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        body()
        clock_gettime(CLOCK_MONOTONIC, &end)
        let seconds = Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) / 1e9
        benchmark.measurement(rate, Int(Double(bytes) / seconds / 1e9 * 100))
    }

    Benchmark("memcpy 4 MiB") { benchmark in
        let a = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        let b = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { a.deallocate(); b.deallocate() }
        memset(a, 1, bytes)
        memset(b, 2, bytes)
        for _ in benchmark.scaledIterations { record(benchmark) { memcpy(a, b, bytes) } }
        blackHole(a.load(as: UInt8.self))
    }

    /// Times `combine(target, source)` on two buffers of ones; `resetting` puts the ones back
    /// after each sample, outside the timed part (for sums and products, to keep them bounded).
    func timed<T>(_ name: String, one: T, resetting: Bool,
                           _ combine: @escaping (UnsafeMutableBufferPointer<T>, UnsafeBufferPointer<T>) -> Void) {
        Benchmark(name) { benchmark in
            let count = bytes / MemoryLayout<T>.stride
            let target = UnsafeMutableBufferPointer<T>.allocate(capacity: count)
            let source = UnsafeMutableBufferPointer<T>.allocate(capacity: count)
            defer { target.deallocate(); source.deallocate() }
            target.initialize(repeating: one)
            source.initialize(repeating: one)
            for _ in benchmark.scaledIterations {
                record(benchmark) { combine(target, UnsafeBufferPointer(source)) }
                if resetting { target.update(repeating: one) }
            }
            blackHole(target[0])
        }
    }

    func kernel<T: CollectiveElement>(_ one: T, _ op: ReduceOperation) {
        timed("\(T.dataType) \(op) 4 MiB", one: one, resetting: op == .product || op == .sum) { target, source in
            LocalReduction.combine(target, source, op: op)
        }
    }

    // The loop the library used for Float16 before its F16C kernels, for a ratio in the same run.
    timed("float16 sum 4 MiB, Swift's Float16 arithmetic", one: Float16(1), resetting: true) { target, source in
        let d = target.baseAddress!, s = source.baseAddress!
        for i in 0..<target.count { d[i] = d[i] + s[i] }
    }

    for op in [ReduceOperation.sum, .product, .min, .max] {
        kernel(Float(1), op)
        kernel(Double(1), op)
        kernel(Float16(1), op)
        kernel(BFloat16(1), op)
        kernel(Int32(1), op)
        kernel(Int64(1), op)
    }
}
