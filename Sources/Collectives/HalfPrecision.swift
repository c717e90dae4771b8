import CCollectivesKernels

/// The two 16-bit floating-point formats, for moving `Float` data at half the bytes (compressed
/// gradients): whole buffers converted with vector instructions where the CPU has them.
public enum HalfPrecision: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// IEEE binary16 (`Float16`): 11 significant bits, range ±65504.
    case float16
    /// bfloat16 (``BFloat16``): 8 significant bits, `Float`'s range.
    case bfloat16

    /// The wire type.
    public var dataType: DataType { self == .float16 ? .float16 : .bfloat16 }

    public var description: String { rawValue }

    /// Rounds every `Float` of `source` to nearest-even into `destination` (the 16-bit patterns;
    /// same length).
    package func narrow(_ source: UnsafeBufferPointer<Float>, into destination: UnsafeMutableBufferPointer<UInt16>) {
        precondition(source.count == destination.count, "narrow needs buffers of the same length")
        guard let s = source.baseAddress, let d = destination.baseAddress else { return }
        switch self {
        case .bfloat16:
            collectives_bf16_from_floats(d, s, source.count)
        case .float16:
            #if arch(x86_64) && os(Linux)
            if ReductionKernel.halfConversionInHardware {
                collectives_f16_from_floats(d, s, source.count)
                return
            }
            #endif
            for i in 0..<source.count { d[i] = Float16(s[i]).bitPattern }
        }
    }

    /// Widens every 16-bit value of `source` into `destination` (same length), exactly.
    package func widen(_ source: UnsafeBufferPointer<UInt16>, into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(source.count == destination.count, "widen needs buffers of the same length")
        guard let s = source.baseAddress, let d = destination.baseAddress else { return }
        switch self {
        case .bfloat16:
            collectives_bf16_to_floats(d, s, source.count)
        case .float16:
            #if arch(x86_64) && os(Linux)
            if ReductionKernel.halfConversionInHardware {
                collectives_f16_to_floats(d, s, source.count)
                return
            }
            #endif
            for i in 0..<source.count { d[i] = Float(Float16(bitPattern: s[i])) }
        }
    }
}
