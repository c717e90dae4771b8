/// A 16-bit "brain" floating-point number: the sign, the 8 exponent bits and the top 7 fraction
/// bits of a `Float`. It has `Float`'s range with about 3 significant decimal digits, and is the
/// gradient type of most current training.
///
/// Arithmetic happens in `Float`: convert with `Float(x)` and back with `BFloat16(y)`, which
/// rounds to nearest, ties to even (a NaN stays a NaN). Collectives reduce `BFloat16` the same
/// way, element by element: widen both operands, combine in `Float`, round once.
///
/// Equality and ordering are `Float`'s (`-0 == +0`, a NaN equals nothing).
@frozen
public struct BFloat16: Sendable, BitwiseCopyable, Hashable, Comparable, CustomStringConvertible,
    ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral {
    /// The 16 bits: the high half of the `Float` this value stands for.
    public var bitPattern: UInt16

    /// The value whose bits are `bitPattern`.
    @inlinable
    public init(bitPattern: UInt16) { self.bitPattern = bitPattern }

    /// `value` rounded to the nearest bfloat16, ties to even; a NaN becomes a quiet NaN.
    @inlinable
    public init(_ value: Float) {
        let bits = value.bitPattern
        if bits & 0x7fff_ffff > 0x7f80_0000 {
            bitPattern = UInt16(truncatingIfNeeded: bits >> 16) | 0x40
        } else {
            bitPattern = UInt16(truncatingIfNeeded: (bits &+ 0x7fff &+ ((bits >> 16) & 1)) >> 16)
        }
    }

    /// A literal, rounded to `Float` first and then to bfloat16.
    @inlinable
    public init(floatLiteral value: Float) { self.init(value) }

    /// An integer literal; exact up to 256 in magnitude, rounded beyond.
    @inlinable
    public init(integerLiteral value: Int16) { self.init(Float(value)) }

    /// Positive zero.
    public static var zero: BFloat16 { BFloat16(bitPattern: 0) }

    /// The value as a `Float` (exact).
    @inlinable
    public var floatValue: Float { Float(bitPattern: UInt32(bitPattern) << 16) }

    /// Whether the value is a NaN.
    @inlinable
    public var isNaN: Bool { floatValue.isNaN }

    @inlinable
    public static func == (a: BFloat16, b: BFloat16) -> Bool { a.floatValue == b.floatValue }

    @inlinable
    public static func < (a: BFloat16, b: BFloat16) -> Bool { a.floatValue < b.floatValue }

    @inlinable
    public func hash(into hasher: inout Hasher) { hasher.combine(floatValue) }

    public var description: String { floatValue.description }

    /// Rounds every `Float` of `source` into `destination` (of the same length), vectorized.
    public static func convert(_ source: UnsafeBufferPointer<Float>, into destination: UnsafeMutableBufferPointer<BFloat16>) {
        precondition(source.count == destination.count, "convert needs buffers of the same length")
        guard let d = destination.baseAddress else { return }
        d.withMemoryRebound(to: UInt16.self, capacity: source.count) {
            HalfPrecision.bfloat16.narrow(source, into: UnsafeMutableBufferPointer(start: $0, count: source.count))
        }
    }

    /// Widens every value of `source` into `destination` (of the same length), vectorized.
    public static func convert(_ source: UnsafeBufferPointer<BFloat16>, into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(source.count == destination.count, "convert needs buffers of the same length")
        guard let s = source.baseAddress else { return }
        s.withMemoryRebound(to: UInt16.self, capacity: source.count) {
            HalfPrecision.bfloat16.widen(UnsafeBufferPointer(start: $0, count: source.count), into: destination)
        }
    }
}

extension Float {
    /// The exact value of a bfloat16.
    @inlinable
    public init(_ value: BFloat16) { self = value.floatValue }
}
