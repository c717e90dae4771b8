import CCollectivesShim
/// An element-wise combine of one buffer into another, chosen once per call for a concrete type
/// and operation so that the loop inside is specialized and vectorized.
///
/// `combine(destination, source, count)` sets `destination[i] = destination[i] ⊕ source[i]`;
/// `finish(destination, count, worldSize)` applies the last step of ``ReduceOperation/average``
/// (division by the number of ranks) and is `nil` for the other operations.
struct ReductionKernel: Sendable {
    typealias Combine = @Sendable (UnsafeMutableRawPointer, UnsafeRawPointer, Int) -> Void
    typealias Finish = @Sendable (UnsafeMutableRawPointer, Int, Int) -> Void

    let combine: Combine
    let finish: Finish?

    init(combine: @escaping Combine, finish: Finish?) {
        self.combine = combine
        self.finish = finish
    }

    init(dataType: DataType, operation: ReduceOperation) {
        switch dataType {
        case .float32: self = Self.floating(Float.self, operation)
        case .float64: self = Self.floating(Double.self, operation)
        case .int32: self = Self.integer(Int32.self, operation)
        case .int64: self = Self.integer(Int64.self, operation)
        case .float16:
            #if arch(x86_64) && os(Linux)
            if let accelerated = Self.acceleratedHalf(operation) {
                self = accelerated
                return
            }
            #endif
            #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
            self = Self.floating(Float16.self, operation)
            #else
            fatalError("Float16 is not available on this platform")
            #endif
        }
    }

    #if arch(x86_64) && os(Linux)
    /// Whether this CPU converts halves in hardware (F16C); then every reduction of `Float16`
    /// runs 8 elements at a time in C, with the same bits as Swift's arithmetic.
    static let halfConversionInHardware = collectives_f16_accelerated() != 0

    private static func acceleratedHalf(_ operation: ReduceOperation) -> ReductionKernel? {
        guard halfConversionInHardware else { return nil }
        typealias HalfLoop = @convention(c) (UnsafeMutablePointer<UInt16>?, UnsafePointer<UInt16>?, Int) -> Void
        func combining(_ loop: HalfLoop) -> Combine {
            { d, s, n in loop(d.assumingMemoryBound(to: UInt16.self), s.assumingMemoryBound(to: UInt16.self), n) }
        }
        switch operation {
        case .sum:
            return ReductionKernel(combine: combining(collectives_f16_sum), finish: nil)
        case .average:
            return ReductionKernel(combine: combining(collectives_f16_sum), finish: { d, n, world in
                collectives_f16_divide(d.assumingMemoryBound(to: UInt16.self), n, Float(Float16(world)))
            })
        case .product: return ReductionKernel(combine: combining(collectives_f16_product), finish: nil)
        case .min: return ReductionKernel(combine: combining(collectives_f16_minimum), finish: nil)
        case .max: return ReductionKernel(combine: combining(collectives_f16_maximum), finish: nil)
        }
    }
    #endif

    private static func floating<T: BinaryFloatingPoint & Sendable>(_: T.Type, _ operation: ReduceOperation) -> ReductionKernel {
        switch operation {
        case .sum, .average:
            let combine: Combine = { d, s, n in
                Kernels.sum(d.assumingMemoryBound(to: T.self), s.assumingMemoryBound(to: T.self), n)
            }
            let divide: Finish = { d, n, world in
                Kernels.divide(d.assumingMemoryBound(to: T.self), n, by: T(world))
            }
            return ReductionKernel(combine: combine, finish: operation == .average ? divide : nil)
        case .product:
            return ReductionKernel(combine: { d, s, n in
                Kernels.product(d.assumingMemoryBound(to: T.self), s.assumingMemoryBound(to: T.self), n)
            }, finish: nil)
        case .min:
            return ReductionKernel(combine: { d, s, n in
                Kernels.minimum(d.assumingMemoryBound(to: T.self), s.assumingMemoryBound(to: T.self), n)
            }, finish: nil)
        case .max:
            return ReductionKernel(combine: { d, s, n in
                Kernels.maximum(d.assumingMemoryBound(to: T.self), s.assumingMemoryBound(to: T.self), n)
            }, finish: nil)
        }
    }

    private static func integer<T: FixedWidthInteger & Sendable>(_: T.Type, _ operation: ReduceOperation) -> ReductionKernel {
        switch operation {
        case .sum, .average:
            let combine: Combine = { d, s, n in
                Kernels.wrappingSum(d.assumingMemoryBound(to: T.self), s.assumingMemoryBound(to: T.self), n)
            }
            let divide: Finish = { d, n, world in
                Kernels.divide(d.assumingMemoryBound(to: T.self), n, by: T(world))
            }
            return ReductionKernel(combine: combine, finish: operation == .average ? divide : nil)
        case .product:
            return ReductionKernel(combine: { d, s, n in
                Kernels.wrappingProduct(d.assumingMemoryBound(to: T.self), s.assumingMemoryBound(to: T.self), n)
            }, finish: nil)
        case .min:
            return ReductionKernel(combine: { d, s, n in
                Kernels.minimum(d.assumingMemoryBound(to: T.self), s.assumingMemoryBound(to: T.self), n)
            }, finish: nil)
        case .max:
            return ReductionKernel(combine: { d, s, n in
                Kernels.maximum(d.assumingMemoryBound(to: T.self), s.assumingMemoryBound(to: T.self), n)
            }, finish: nil)
        }
    }
}

/// The loops. Plain indexed loops over raw pointers: no bounds checks, no ARC, and the optimizer
/// turns them into SIMD code (checked with the kernel benchmarks).
enum Kernels {
    @inline(__always)
    static func sum<T: FloatingPoint>(_ d: UnsafeMutablePointer<T>, _ s: UnsafePointer<T>, _ n: Int) {
        for i in 0..<n { d[i] = d[i] + s[i] }
    }

    @inline(__always)
    static func product<T: FloatingPoint>(_ d: UnsafeMutablePointer<T>, _ s: UnsafePointer<T>, _ n: Int) {
        for i in 0..<n { d[i] = d[i] * s[i] }
    }

    @inline(__always)
    static func wrappingSum<T: FixedWidthInteger>(_ d: UnsafeMutablePointer<T>, _ s: UnsafePointer<T>, _ n: Int) {
        for i in 0..<n { d[i] = d[i] &+ s[i] }
    }

    @inline(__always)
    static func wrappingProduct<T: FixedWidthInteger>(_ d: UnsafeMutablePointer<T>, _ s: UnsafePointer<T>, _ n: Int) {
        for i in 0..<n { d[i] = d[i] &* s[i] }
    }

    @inline(__always)
    static func minimum<T: Comparable>(_ d: UnsafeMutablePointer<T>, _ s: UnsafePointer<T>, _ n: Int) {
        for i in 0..<n {
            let a = d[i], b = s[i]
            d[i] = b < a ? b : a
        }
    }

    @inline(__always)
    static func maximum<T: Comparable>(_ d: UnsafeMutablePointer<T>, _ s: UnsafePointer<T>, _ n: Int) {
        for i in 0..<n {
            let a = d[i], b = s[i]
            d[i] = b > a ? b : a
        }
    }

    @inline(__always)
    static func divide<T: FloatingPoint>(_ d: UnsafeMutablePointer<T>, _ n: Int, by divisor: T) {
        for i in 0..<n { d[i] = d[i] / divisor }
    }

    @inline(__always)
    static func divide<T: FixedWidthInteger>(_ d: UnsafeMutablePointer<T>, _ n: Int, by divisor: T) {
        for i in 0..<n { d[i] = d[i] / divisor }
    }
}
