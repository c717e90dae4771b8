import Collectives
import CollectivesVerification
import CollectivesTestSupport

/// What the sequential reference says of one element of a reduction: exactly these bits
/// (integers, `Bool`, minima and maxima, moved values), or a real number within a bound
/// (floating-point sums, products and averages, whose rounding depends on the order).
enum ReferenceValue: Equatable {
    case bits(UInt64)
    case approximately(Double, bound: Double)
}

/// An element type the property tests draw values of and reduce by themselves, in `Double` or
/// exactly in the type, never through the library's kernels.
protocol PropertyValue: CollectiveElement, Equatable {
    /// A value for `op`: across exponents for floating point (within what a sum or product of up
    /// to 9 of them keeps finite and normal), any bit pattern for integers.
    static func random(_ generator: inout SeededRandom, op: ReduceOperation) -> Self
    /// The reduction of `values` (one per rank, in rank order) by `op`.
    static func reference(_ values: [Self], op: ReduceOperation) -> ReferenceValue
    var bits: UInt64 { get }
    /// What buffers are filled with before a collective writes them (never compared).
    static var filler: Self { get }
}

/// Floating-point types: the reference is the exact sum, product or average of the values as
/// `Double`s, and the bound what rounding in the type may add, from its unit roundoff `u` and
/// the number of ranks n: (n + 2)·u·Σ|x| for sums, that over n for averages, (n + 2)·u·|Π x| for
/// products. Minima and maxima are exact.
protocol PropertyFloat: PropertyValue {
    static var unitRoundoff: Double { get }
    /// Exponents drawn for sums, so that 9 values stay finite and normal.
    static var exponents: ClosedRange<Int> { get }
    init(double: Double)
    var double: Double { get }
}

extension PropertyFloat {
    static var filler: Self { Self(double: 0) }

    static func random(_ generator: inout SeededRandom, op: ReduceOperation) -> Self {
        let mantissa = 1 + Double.random(in: 0..<1, using: &generator)
        // Products of up to 9 values between 1/2 and 2 stay normal even in float16.
        let exponent = op == .product ? Int.random(in: -1...0, using: &generator) : Int.random(in: exponents, using: &generator)
        let sign: Double = Bool.random(using: &generator) ? -1 : 1
        return Self(double: sign * mantissa * Double(sign: .plus, exponent: exponent, significand: 1))
    }

    static func reference(_ values: [Self], op: ReduceOperation) -> ReferenceValue {
        let doubles = values.map(\.double)
        let n = Double(values.count), u = unitRoundoff
        let magnitude = doubles.reduce(0) { $0 + abs($1) }
        switch op {
        case .sum: return .approximately(doubles.reduce(0, +), bound: (n + 2) * u * magnitude)
        case .average: return .approximately(doubles.reduce(0, +) / n, bound: (n + 2) * u * magnitude / n)
        case .product:
            let product = doubles.reduce(1, *)
            return .approximately(product, bound: (n + 2) * u * abs(product))
        case .min: return .bits(values[doubles.indices.min { doubles[$0] < doubles[$1] }!].bits)
        case .max: return .bits(values[doubles.indices.max { doubles[$0] < doubles[$1] }!].bits)
        case .bitwiseAnd, .bitwiseOr, .bitwiseXor: preconditionFailure("\(op) does not apply to floating point")
        }
    }
}

extension Float: PropertyFloat {
    static var unitRoundoff: Double { 0x1p-24 }
    static var exponents: ClosedRange<Int> { -30...30 }
    init(double: Double) { self.init(double) }
    var double: Double { Double(self) }
    var bits: UInt64 { UInt64(bitPattern.self) }
}

extension Double: PropertyFloat {
    static var unitRoundoff: Double { 0x1p-53 }
    static var exponents: ClosedRange<Int> { -60...60 }
    init(double: Double) { self = double }
    var double: Double { self }
    var bits: UInt64 { bitPattern }
}

extension Float16: PropertyFloat {
    static var unitRoundoff: Double { 0x1p-11 }
    // 9 × 2^9 stays below float16's 65504; 2^-10 stays above its smallest normal 2^-14.
    static var exponents: ClosedRange<Int> { -10...8 }
    init(double: Double) { self.init(double) }
    var double: Double { Double(self) }
    var bits: UInt64 { UInt64(bitPattern) }
}

extension BFloat16: PropertyFloat {
    static var unitRoundoff: Double { 0x1p-8 }
    static var exponents: ClosedRange<Int> { -30...30 }
    init(double: Double) { self.init(Float(double)) }
    var double: Double { Double(floatValue) }
    var bits: UInt64 { UInt64(bitPattern) }
}

/// Integer types: every bit pattern, reduced with the type's own wrapping arithmetic; the
/// average is the wrapped sum divided in the type, rounded toward zero.
protocol PropertyInteger: PropertyValue, FixedWidthInteger {}

extension PropertyInteger {
    static var filler: Self { 0 }

    static func random(_ generator: inout SeededRandom, op: ReduceOperation) -> Self {
        Self(truncatingIfNeeded: generator.next())
    }

    static func reference(_ values: [Self], op: ReduceOperation) -> ReferenceValue {
        let result: Self
        switch op {
        case .sum: result = values.reduce(0, &+)
        case .average: result = values.reduce(0, &+) / Self(values.count)
        case .product: result = values.reduce(1, &*)
        case .min: result = values.min()!
        case .max: result = values.max()!
        case .bitwiseAnd: result = values.reduce(~0, &)
        case .bitwiseOr: result = values.reduce(0, |)
        case .bitwiseXor: result = values.reduce(0, ^)
        }
        return .bits(result.bits)
    }

    var bits: UInt64 { UInt64(truncatingIfNeeded: self) & (Self.bitWidth == 64 ? .max : (1 << UInt64(Self.bitWidth)) - 1) }
}

extension Int8: PropertyInteger {}
extension UInt8: PropertyInteger {}
extension Int32: PropertyInteger {}
extension UInt32: PropertyInteger {}
extension Int64: PropertyInteger {}
extension UInt64: PropertyInteger {}

extension Bool: PropertyValue {
    static func random(_ generator: inout SeededRandom, op: ReduceOperation) -> Bool { Bool.random(using: &generator) }

    /// min and bitwise and are logical and; max and bitwise or are or; xor is parity.
    static func reference(_ values: [Bool], op: ReduceOperation) -> ReferenceValue {
        switch op {
        case .min, .bitwiseAnd: return .bits(values.allSatisfy { $0 } ? 1 : 0)
        case .max, .bitwiseOr: return .bits(values.contains(true) ? 1 : 0)
        case .bitwiseXor: return .bits(values.filter { $0 }.count % 2 == 1 ? 1 : 0)
        case .sum, .product, .average: preconditionFailure("\(op) does not apply to Bool")
        }
    }

    var bits: UInt64 { self ? 1 : 0 }
    static var filler: Bool { false }
}

/// The Swift type of each ``DataType`` as a ``PropertyValue``: the checkers' type, which every
/// type above also conforms to here.
func propertyType(of dataType: DataType) -> any PropertyValue.Type {
    ElementTypes.type(of: dataType) as! any PropertyValue.Type
}
