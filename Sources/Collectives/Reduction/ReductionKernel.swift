import CCollectivesKernels
/// An element-wise combine of one buffer into another, chosen once per call for a concrete type
/// and operation so that the loop inside is specialized and vectorized.
///
/// `combine(destination, source, count)` sets `destination[i] = destination[i] ⊕ source[i]`;
/// `finish(destination, count, worldSize)` applies the last step of ``ReduceOperation/average``
/// (division by the number of ranks) and is `nil` for the other operations.
/// ``combine(into:_:_:_:)`` sets `destination[i] = first[i] ⊕ second[i]` in one pass, for an
/// out-of-place algorithm's first combine into its output.
struct ReductionKernel: Sendable {
    typealias Combine = @Sendable (UnsafeMutableRawPointer, UnsafeRawPointer, Int) -> Void
    typealias CombineInto = @Sendable (UnsafeMutableRawPointer, UnsafeRawPointer, UnsafeRawPointer, Int) -> Void
    typealias Finish = @Sendable (UnsafeMutableRawPointer, Int, Int) -> Void

    let combine: Combine
    let finish: Finish?
    /// The one-pass three-operand loop, where the type has one (not the half-precision C loops).
    private let combineInto: CombineInto?

    init(combine: @escaping Combine, finish: Finish?, combineInto: CombineInto? = nil) {
        self.combine = combine
        self.finish = finish
        self.combineInto = combineInto
    }

    /// Sets `count` elements at `destination` to those at `first` ⊕ those at `second` (the
    /// three do not overlap): in one pass where the type has a three-operand loop, else as a copy
    /// of `first` and a combine.
    @inline(__always)
    func combine(into destination: UnsafeMutableRawPointer, _ first: UnsafeRawPointer, _ second: UnsafeRawPointer, _ count: Int,
                 elementSize: Int) {
        if let combineInto {
            combineInto(destination, first, second, count)
        } else {
            destination.copyMemory(from: first, byteCount: count * elementSize)
            combine(destination, second, count)
        }
    }

    /// The kernel of `operation` on `dataType`; `nil` where the operation does not apply to the
    /// type (``ReduceOperation/applies(to:)``).
    init?(dataType: DataType, operation: ReduceOperation) {
        guard operation.applies(to: dataType) else { return nil }
        switch dataType {
        case .float32: self = Self.floating(Float.self, operation)
        case .float64: self = Self.floating(Double.self, operation)
        case .int8: self = Self.integer(Int8.self, operation)
        case .uint8: self = Self.integer(UInt8.self, operation)
        case .int32: self = Self.integer(Int32.self, operation)
        case .uint32: self = Self.integer(UInt32.self, operation)
        case .int64: self = Self.integer(Int64.self, operation)
        case .uint64: self = Self.integer(UInt64.self, operation)
        case .bool:
            // Stored as one byte, 0 or 1: and, or and xor of the bytes keep it so.
            switch operation {
            case .min, .bitwiseAnd: self = Self.integer(UInt8.self, .bitwiseAnd)
            case .max, .bitwiseOr: self = Self.integer(UInt8.self, .bitwiseOr)
            default: self = Self.integer(UInt8.self, .bitwiseXor)
            }
        case .bfloat16: self = Self.brainHalf(operation)
        case .float16:
            #if arch(x86_64) && os(Linux)
            if let accelerated = Self.acceleratedHalf(operation) {
                self = accelerated
                return
            }
            #endif
            self = Self.floating(Float16.self, operation)
        }
    }

    /// The kernel of an operation every caller has already checked applies to the type.
    init(checked dataType: DataType, operation: ReduceOperation) {
        guard let kernel = ReductionKernel(dataType: dataType, operation: operation) else {
            preconditionFailure("\(operation) does not apply to \(dataType)")
        }
        self = kernel
    }

    private typealias HalfLoop = @convention(c) (UnsafeMutablePointer<UInt16>?, UnsafePointer<UInt16>?, Int) -> Void

    private static func combining(_ loop: HalfLoop) -> Combine {
        { d, s, n in loop(d.assumingMemoryBound(to: UInt16.self), s.assumingMemoryBound(to: UInt16.self), n) }
    }

    /// bfloat16: vectorized C loops that widen, combine in float and round to nearest-even.
    private static func brainHalf(_ operation: ReduceOperation) -> ReductionKernel {
        switch operation {
        case .product: return ReductionKernel(combine: combining(collectives_bf16_product), finish: nil)
        case .min: return ReductionKernel(combine: combining(collectives_bf16_minimum), finish: nil)
        case .max: return ReductionKernel(combine: combining(collectives_bf16_maximum), finish: nil)
        case .average:
            return ReductionKernel(combine: combining(collectives_bf16_sum), finish: { d, n, world in
                collectives_bf16_divide(d.assumingMemoryBound(to: UInt16.self), n, Float(world))
            })
        default: return ReductionKernel(combine: combining(collectives_bf16_sum), finish: nil)
        }
    }

    #if arch(x86_64) && os(Linux)
    /// Whether this CPU converts halves in hardware (F16C); then every reduction of `Float16`
    /// runs 8 elements at a time in C, with the same bits as Swift's arithmetic.
    static let halfConversionInHardware = collectives_f16_accelerated() != 0

    private static func acceleratedHalf(_ operation: ReduceOperation) -> ReductionKernel? {
        guard halfConversionInHardware else { return nil }
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
        case .bitwiseAnd, .bitwiseOr, .bitwiseXor: return nil
        }
    }
    #endif

    /// The kernel whose combine is `loop` over elements of type `T`, and whose three-operand
    /// combine is `into`.
    private static func combining<T>(_: T.Type, _ loop: @escaping @Sendable (UnsafeMutablePointer<T>, UnsafePointer<T>, Int) -> Void,
                                     into: @escaping @Sendable (UnsafeMutablePointer<T>, UnsafePointer<T>, UnsafePointer<T>, Int) -> Void,
                                     finish: Finish? = nil) -> ReductionKernel {
        ReductionKernel(combine: { d, s, n in loop(d.assumingMemoryBound(to: T.self), s.assumingMemoryBound(to: T.self), n) },
                        finish: finish,
                        combineInto: { d, a, b, n in
                            into(d.assumingMemoryBound(to: T.self), a.assumingMemoryBound(to: T.self), b.assumingMemoryBound(to: T.self), n)
                        })
    }

    private static func floating<T: BinaryFloatingPoint & Sendable>(_: T.Type, _ operation: ReduceOperation) -> ReductionKernel {
        switch operation {
        case .sum: return combining(T.self, Kernels.sum, into: Kernels.sumInto)
        case .average:
            return combining(T.self, Kernels.sum, into: Kernels.sumInto, finish: { d, n, world in
                Kernels.divide(d.assumingMemoryBound(to: T.self), n, by: T(world))
            })
        case .product: return combining(T.self, Kernels.product, into: Kernels.productInto)
        case .min: return combining(T.self, Kernels.minimum, into: Kernels.minimumInto)
        case .max: return combining(T.self, Kernels.maximum, into: Kernels.maximumInto)
        case .bitwiseAnd, .bitwiseOr, .bitwiseXor:
            preconditionFailure("\(operation) does not apply to floating point")
        }
    }

    private static func integer<T: FixedWidthInteger & Sendable>(_: T.Type, _ operation: ReduceOperation) -> ReductionKernel {
        switch operation {
        case .sum: return combining(T.self, Kernels.wrappingSum, into: Kernels.wrappingSumInto)
        case .average:
            return combining(T.self, Kernels.wrappingSum, into: Kernels.wrappingSumInto, finish: { d, n, world in
                let values = d.assumingMemoryBound(to: T.self)
                if let divisor = T(exactly: world) {
                    Kernels.divide(values, n, by: divisor)
                } else {
                    // More ranks than the type's largest value (Int8 beyond 127 ranks): every
                    // quotient has a magnitude below one, except T.min / world for signed types.
                    for i in 0..<n { values[i] = T(truncatingIfNeeded: Int64(values[i]) / Int64(world)) }
                }
            })
        case .product: return combining(T.self, Kernels.wrappingProduct, into: Kernels.wrappingProductInto)
        case .min: return combining(T.self, Kernels.minimum, into: Kernels.minimumInto)
        case .max: return combining(T.self, Kernels.maximum, into: Kernels.maximumInto)
        case .bitwiseAnd: return combining(T.self, Kernels.and, into: Kernels.andInto)
        case .bitwiseOr: return combining(T.self, Kernels.or, into: Kernels.orInto)
        case .bitwiseXor: return combining(T.self, Kernels.xor, into: Kernels.xorInto)
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
    static func and<T: FixedWidthInteger>(_ d: UnsafeMutablePointer<T>, _ s: UnsafePointer<T>, _ n: Int) {
        for i in 0..<n { d[i] = d[i] & s[i] }
    }

    @inline(__always)
    static func or<T: FixedWidthInteger>(_ d: UnsafeMutablePointer<T>, _ s: UnsafePointer<T>, _ n: Int) {
        for i in 0..<n { d[i] = d[i] | s[i] }
    }

    @inline(__always)
    static func xor<T: FixedWidthInteger>(_ d: UnsafeMutablePointer<T>, _ s: UnsafePointer<T>, _ n: Int) {
        for i in 0..<n { d[i] = d[i] ^ s[i] }
    }

    // Three operands: `d[i] = a[i] ⊕ b[i]`, the buffers apart (so the vector loop runs).

    @inline(__always)
    static func sumInto<T: FloatingPoint>(_ d: UnsafeMutablePointer<T>, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ n: Int) {
        for i in 0..<n { d[i] = a[i] + b[i] }
    }

    @inline(__always)
    static func productInto<T: FloatingPoint>(_ d: UnsafeMutablePointer<T>, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ n: Int) {
        for i in 0..<n { d[i] = a[i] * b[i] }
    }

    @inline(__always)
    static func wrappingSumInto<T: FixedWidthInteger>(_ d: UnsafeMutablePointer<T>, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ n: Int) {
        for i in 0..<n { d[i] = a[i] &+ b[i] }
    }

    @inline(__always)
    static func wrappingProductInto<T: FixedWidthInteger>(_ d: UnsafeMutablePointer<T>, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>,
                                                          _ n: Int) {
        for i in 0..<n { d[i] = a[i] &* b[i] }
    }

    /// As ``minimum(_:_:_:)`` with `a` as the destination's old value: the same element wins a tie
    /// or a NaN.
    @inline(__always)
    static func minimumInto<T: Comparable>(_ d: UnsafeMutablePointer<T>, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ n: Int) {
        for i in 0..<n {
            let x = a[i], y = b[i]
            d[i] = y < x ? y : x
        }
    }

    @inline(__always)
    static func maximumInto<T: Comparable>(_ d: UnsafeMutablePointer<T>, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ n: Int) {
        for i in 0..<n {
            let x = a[i], y = b[i]
            d[i] = y > x ? y : x
        }
    }

    @inline(__always)
    static func andInto<T: FixedWidthInteger>(_ d: UnsafeMutablePointer<T>, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ n: Int) {
        for i in 0..<n { d[i] = a[i] & b[i] }
    }

    @inline(__always)
    static func orInto<T: FixedWidthInteger>(_ d: UnsafeMutablePointer<T>, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ n: Int) {
        for i in 0..<n { d[i] = a[i] | b[i] }
    }

    @inline(__always)
    static func xorInto<T: FixedWidthInteger>(_ d: UnsafeMutablePointer<T>, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ n: Int) {
        for i in 0..<n { d[i] = a[i] ^ b[i] }
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
