import Collectives

/// Deterministic inputs for every rank and the result a reduction of them must give, computed
/// sequentially in `Int` (the reference that tests, `collectives-check` and the benchmark compare
/// against; it never calls the library's kernels).
///
/// Inputs are small integers (exact in every type, the half-precision ones included), chosen so
/// that sums, products, minima and maxima over up to 16 ranks stay exact in floating point;
/// integer types wrap as their collectives do; only floating-point averages round, and are
/// compared with ``tolerance(for:)``.
package enum ReferencePattern {
    /// The pattern value rank `rank` contributes at index `index` for `op`.
    package static func input(rank: Int, index: Int, op: ReduceOperation) -> Int {
        switch op {
        case .product:
            // Mostly ±1 with a few ±2, so that products over 16 ranks stay within Float16.
            let pattern = [1, -1, 1, 2, 1, -1, 1, 1, -2, 1, 1]
            return pattern[(index &* 7 &+ rank &* 3) % pattern.count]
        default:
            return (index &* 7 &+ rank &* 13) % 23 - 11
        }
    }

    /// Fills `buffer` with this rank's inputs.
    package static func fill<T: CheckableElement>(_ buffer: UnsafeMutableBufferPointer<T>, rank: Int, op: ReduceOperation) {
        for i in buffer.indices { buffer[i] = T(pattern: input(rank: rank, index: i, op: op)) }
    }

    /// The reduction over ranks of the inputs at `index` as `dataType` holds it, as a Double.
    package static func expected(index: Int, worldSize: Int, op: ReduceOperation, dataType: DataType) -> Double {
        let arithmetic = Arithmetic(dataType)
        var sum = 0, product = 1, smallest = Int.max, largest = Int.min
        var and = -1, or = 0, xor = 0
        for rank in 0..<worldSize {
            let value = arithmetic.held(input(rank: rank, index: index, op: op))
            sum = sum &+ value
            product = product &* value
            smallest = Swift.min(smallest, value)
            largest = Swift.max(largest, value)
            and &= value
            or |= value
            xor ^= value
        }
        switch op {
        case .sum: return arithmetic.result(sum)
        case .product: return arithmetic.result(product)
        case .min: return arithmetic.result(smallest)
        case .max: return arithmetic.result(largest)
        case .bitwiseAnd: return arithmetic.result(and)
        case .bitwiseOr: return arithmetic.result(or)
        case .bitwiseXor: return arithmetic.result(xor)
        case .average: return arithmetic.average(sum, worldSize)
        }
    }

    /// The largest difference accepted between a result and the reference, relative to
    /// max(1, |reference|): zero for integers and `Bool`; one rounding of the type for floating
    /// point.
    package static func tolerance(for dataType: DataType) -> Double {
        switch dataType {
        case .float16: return 1e-3
        case .bfloat16: return 4e-3
        case .float32: return 1e-6
        case .float64: return 1e-14
        default: return 0
        }
    }

    /// Counts elements of `buffer` (an all-reduce's result) that differ from the reference.
    package static func countWrong<T: CheckableElement>(_ buffer: UnsafeBufferPointer<T>, worldSize: Int, op: ReduceOperation) -> Int {
        let tolerance = Self.tolerance(for: T.dataType)
        var wrong = 0
        for i in buffer.indices {
            let expected = Self.expected(index: i, worldSize: worldSize, op: op, dataType: T.dataType)
            if isWrong(buffer[i].checkedValue, expected: expected, tolerance: tolerance) { wrong += 1 }
        }
        return wrong
    }

    /// Whether `value` is not the reference `expected` within `tolerance` (relative to
    /// max(1, |expected|)). A NaN is wrong unless a NaN is expected, an infinity unless that
    /// infinity is expected, and a zero of the other sign than an expected zero is wrong (the
    /// pattern's zeros are all +0: sums of integers that cancel round to +0). Written so that
    /// no comparison with NaN can let a value through: `abs(NaN - x) > bound` is false.
    package static func isWrong(_ value: Double, expected: Double, tolerance: Double) -> Bool {
        if value.isNaN || expected.isNaN { return value.isNaN != expected.isNaN }
        if value.isInfinite || expected.isInfinite { return value != expected }
        if value == 0 && expected == 0 { return value.sign != expected.sign }
        let difference = abs(value - expected)
        return !(difference <= tolerance * max(1, abs(expected)))
    }

    /// How a type holds pattern values and computes with them.
    enum Arithmetic {
        case floating
        case integer(bits: Int, signed: Bool)
        case logical

        init(_ dataType: DataType) {
            switch dataType {
            case .float16, .bfloat16, .float32, .float64: self = .floating
            case .int8: self = .integer(bits: 8, signed: true)
            case .uint8: self = .integer(bits: 8, signed: false)
            case .int32: self = .integer(bits: 32, signed: true)
            case .uint32: self = .integer(bits: 32, signed: false)
            case .int64: self = .integer(bits: 64, signed: true)
            case .uint64: self = .integer(bits: 64, signed: false)
            case .bool: self = .logical
            }
        }

        /// The pattern value as the type holds it: unsigned types shift it to be positive,
        /// `Bool` keeps its lowest bit.
        func held(_ value: Int) -> Int {
            switch self {
            case .floating: return value
            case .integer(_, let signed): return signed ? value : value + PatternShift.unsigned
            case .logical: return value & 1
            }
        }

        /// A result computed in `Int` (wrapping), as the type holds it.
        func result(_ value: Int) -> Double {
            switch self {
            case .floating, .logical: return Double(value)
            case .integer(let bits, let signed):
                let mask: UInt64 = bits == 64 ? .max : (1 << UInt64(bits)) - 1
                let low = UInt64(bitPattern: Int64(value)) & mask
                if !signed { return Double(low) }
                let signBit: UInt64 = 1 << UInt64(bits - 1)
                return Double(Int64(bitPattern: low & signBit != 0 ? low | ~mask : low))
            }
        }

        /// The average: the wrapped sum divided in the type (integers) or exactly (floating point).
        func average(_ sum: Int, _ worldSize: Int) -> Double {
            switch self {
            case .floating, .logical: return Double(sum) / Double(worldSize)
            case .integer(_, let signed):
                let wrapped = result(sum)
                return signed ? Double(Int64(wrapped) / Int64(worldSize)) : Double(UInt64(wrapped) / UInt64(worldSize))
            }
        }
    }
}

/// How pattern values are shifted for types that cannot hold negatives.
enum PatternShift {
    static let unsigned = 12
}

/// An element type the reference can fill and check: every ``CollectiveElement`` the library
/// provides.
package protocol CheckableElement: CollectiveElement, Equatable {
    /// The fill value of untouched buffers (zero, or false).
    static var zero: Self { get }
    /// The element holding pattern value `value` (an integer in -11...11), as ``ReferencePattern``
    /// expects this type to hold it.
    init(pattern value: Int)
    /// The element's value, for comparison with the reference.
    var checkedValue: Double { get }
}

extension Float: CheckableElement {
    package init(pattern value: Int) { self.init(value) }
    package var checkedValue: Double { Double(self) }
}
extension Double: CheckableElement {
    package init(pattern value: Int) { self.init(value) }
    package var checkedValue: Double { self }
}
extension Float16: CheckableElement {
    package init(pattern value: Int) { self.init(value) }
    package var checkedValue: Double { Double(self) }
}
extension BFloat16: CheckableElement {
    package init(pattern value: Int) { self.init(Float(value)) }
    package var checkedValue: Double { Double(floatValue) }
}
extension Int8: CheckableElement {
    package init(pattern value: Int) { self.init(value) }
    package var checkedValue: Double { Double(self) }
}
extension Int32: CheckableElement {
    package init(pattern value: Int) { self.init(value) }
    package var checkedValue: Double { Double(self) }
}
extension Int64: CheckableElement {
    package init(pattern value: Int) { self.init(value) }
    package var checkedValue: Double { Double(self) }
}
extension UInt8: CheckableElement {
    package init(pattern value: Int) { self.init(value + PatternShift.unsigned) }
    package var checkedValue: Double { Double(self) }
}
extension UInt32: CheckableElement {
    package init(pattern value: Int) { self.init(value + PatternShift.unsigned) }
    package var checkedValue: Double { Double(self) }
}
extension UInt64: CheckableElement {
    package init(pattern value: Int) { self.init(value + PatternShift.unsigned) }
    package var checkedValue: Double { Double(self) }
}
extension Bool: CheckableElement {
    package static var zero: Bool { false }
    package init(pattern value: Int) { self = value & 1 != 0 }
    package var checkedValue: Double { self ? 1 : 0 }
}

/// The Swift type of each ``DataType``; pass it to a generic function to open it.
package enum ElementTypes {
    package static func type(of dataType: DataType) -> any CheckableElement.Type {
        guard let type = dataType.elementType as? any CheckableElement.Type else {
            preconditionFailure("\(dataType.elementType) is not a CheckableElement")
        }
        return type
    }
}
